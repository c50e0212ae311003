#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only, except `idle`, which
needs psycopg 3).

  benchlib.py free-port
      print a TCP port on 127.0.0.1 that was free a moment ago
  benchlib.py wait-port PORT TIMEOUT [PID]
      exit 0 once 127.0.0.1:PORT accepts connections; 1 on timeout; 2 if
      PID exits first
  benchlib.py parse FILE
      print "TPS<TAB>LATENCY_MS<TAB>TRANSACTIONS" from one pgbench output
      ("-" when missing); TPS is the "tps = N (without initial connection
      time)" value (with -C: "including reconnection times"),
      TRANSACTIONS "number of transactions actually processed"
  benchlib.py cpu-seconds SID
      print the CPU time (user + system, in seconds) of every process in
      session SID: utime + stime + cutime + cstime from /proc/<pid>/stat, so
      threads and children that were already reaped count too
  benchlib.py idle --port P --user U --dbname D --count N --ready-file F
                   --release-file F [--hold-max S]
      open N connections (password from PGPASSWORD), run SELECT 1 on each,
      keep them open, touch READY-FILE, and wait (at most HOLD-MAX seconds)
      until RELEASE-FILE exists; then close them
  benchlib.py session-pids SID
      print the pids of every process in session SID, comma-separated
  benchlib.py perf-stat FILE
      print "SYSCALLS<TAB>CONTEXT_SWITCHES<TAB>TASK_CLOCK_MS" from the output
      of perf stat -x, (events raw_syscalls:sys_enter, context-switches,
      task-clock); "-" for what is missing
  benchlib.py summary RESULTS.tsv RSS_FILE [META_FILE [SYSCALLS.tsv]]
      print the result tables (see run.sh) and the goals; META_FILE's
      "binary.<target>=..." lines are printed first as a legend
"""
from __future__ import annotations

import os
import random
import re
import socket
import statistics
import sys
import time

HOST = "127.0.0.1"


def listener_ports() -> range:
    """The ports listeners are given: outside the kernel's ephemeral range, where a port handed
    out by bind(0) could become the source port of an outgoing connection (pgbench's, a proxy's)
    before the listener binds it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999
    return max(range(20000, min(low, 32768)), range(max(high + 1, 20000), 65536), key=len)


_handed_out: set[int] = set()
_port_random = random.Random(os.getpid() ^ time.time_ns())


def free_port(udp: bool = False) -> int:
    """A port on 127.0.0.1 free a moment ago for TCP (and UDP when asked), from listener_ports(),
    not handed out before by this process."""
    ports = listener_ports()
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for _ in range(500):
        port = _port_random.randrange(ports.start, ports.stop)
        if port in _handed_out:
            continue
        try:
            for kind in kinds:
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind((HOST, port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {ports}")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def wait_port(port: int, timeout: float, pid: int | None) -> int:
    deadline = time.monotonic() + timeout
    while True:
        if pid is not None and not pid_alive(pid):
            return 2
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return 0
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.1)


# With -C pgbench reports "tps = N (including reconnection times)" instead.
TPS_RE = re.compile(r"^tps = ([0-9.]+) \((?:without initial connection time|including reconnection times)\)", re.M)
LAT_RE = re.compile(r"^latency average = ([0-9.]+) ms", re.M)
XACT_RE = re.compile(r"^number of transactions actually processed: ([0-9]+)", re.M)


def parse(path: str) -> tuple[str, str, str]:
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return "-", "-", "-"
    found = (TPS_RE.search(text), LAT_RE.search(text), XACT_RE.search(text))
    return tuple(m.group(1) if m else "-" for m in found)  # type: ignore[return-value]


def cpu_seconds(sid: int) -> float:
    """CPU time of every process in session `sid` (run.sh starts each target
    with setsid, so the session is the target and everything it forked)."""
    ticks = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                # Fields after "(comm)": state ppid pgrp session ... utime(14)
                # stime cutime cstime, numbered from 1 for pid.
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[3]) != sid:
            continue
        ticks += sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def idle(args: list[str]) -> int:
    import argparse
    import psycopg

    ap = argparse.ArgumentParser(prog="benchlib.py idle")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--dbname", required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--release-file", required=True)
    ap.add_argument("--hold-max", type=float, default=120)
    a = ap.parse_args(args)

    conns = []
    try:
        for i in range(a.count):
            c = psycopg.connect(host=HOST, port=a.port, user=a.user, dbname=a.dbname,
                                password=os.environ.get("PGPASSWORD"), connect_timeout=15,
                                autocommit=True, application_name="swiftpool-bench-idle")
            conns.append(c)
            c.execute("SELECT 1").fetchone()
    except Exception as e:  # report how far we got, then give up
        print(f"idle: connection {len(conns) + 1} of {a.count} failed: {e}", file=sys.stderr)
        for c in conns:
            c.close()
        return 1
    print(f"idle: {len(conns)} connections open", file=sys.stderr)
    open(a.ready_file, "w").close()
    deadline = time.monotonic() + a.hold_max
    while not os.path.exists(a.release_file) and time.monotonic() < deadline:
        time.sleep(0.2)
    broken = 0
    for c in conns:
        if c.closed or c.broken:
            broken += 1
        c.close()
    if broken:
        print(f"idle: {broken} connections were closed by the server while idle", file=sys.stderr)
        return 1
    return 0


def fmt_num(v: float | None, digits: int = 0, skipped: bool = False) -> str:
    if v is None:
        return "n/a" if skipped else "ERR"
    return f"{v:.{digits}f}"


def read_kv(path: str) -> dict[str, str]:
    kv: dict[str, str] = {}
    if path and os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                kv[k] = v
    return kv


def session_pids(sid: int) -> str:
    """Comma-separated pids of every process in session `sid`."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(name))
    return ",".join(str(p) for p in sorted(pids))


def perf_stat(path: str) -> tuple[str, str, str]:
    """(system calls, context switches, task-clock ms) from `perf stat -x,`
    output; "-" for what is missing or not counted."""
    found = {"raw_syscalls:sys_enter": "-", "context-switches": "-", "task-clock": "-"}
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return "-", "-", "-"
    for line in lines:
        if not line or line.startswith("#"):
            continue
        parts = line.split(",")
        if len(parts) < 3:
            continue
        value, event = parts[0], parts[2]
        for key in found:
            if event == key or event.startswith(key + ":") or event.startswith(key + "/"):
                try:
                    float(value)
                except ValueError:  # "<not counted>", "<not supported>"
                    continue
                found[key] = value
    return found["raw_syscalls:sys_enter"], found["context-switches"], found["task-clock"]


def perf_kinds(path: str) -> dict[str, float]:
    """Counts of the syscalls:sys_enter_<name> events in `perf stat -x,` output."""
    kinds: dict[str, float] = {}
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return kinds
    for line in lines:
        parts = line.split(",")
        if len(parts) >= 3 and parts[2].startswith("syscalls:sys_enter_"):
            try:
                kinds[parts[2][len("syscalls:sys_enter_"):]] = float(parts[0])
            except ValueError:
                continue
    return kinds


def summary(results_tsv: str, rss_file: str, meta_file: str = "", syscall_file: str = "") -> int:
    # results.tsv has a header line; columns are looked up by name.
    import csv

    with open(results_tsv, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    workloads: list[str] = []
    targets: list[str] = []
    tps: dict[tuple[str, str], list[float]] = {}
    lat: dict[tuple[str, str], list[float]] = {}
    cpu_tx: dict[tuple[str, str], list[float]] = {}   # proxy CPU µs per transaction
    cores: dict[tuple[str, str], list[float]] = {}    # proxy CPU s per s of pgbench time
    proxied: set[str] = set()                         # targets with a process to measure
    failed: dict[tuple[str, str], int] = {}
    skipped: set[tuple[str, str]] = set()
    for r in rows:
        w, t = r["workload"], r["target"]
        if w not in workloads:
            workloads.append(w)
        if t not in targets:
            targets.append(t)
        key = (w, t)
        cpu = r.get("proxy_cpu_s", "-")
        if cpu != "-":
            proxied.add(t)
        if r["exit"] == "98":  # skipped: the target cannot run this workload
            skipped.add(key)
            continue
        if r["exit"] != "0" or r["tps"] == "-":
            failed[key] = failed.get(key, 0) + 1
            continue
        tp = float(r["tps"])
        tps.setdefault(key, []).append(tp)
        if r["latency_ms"] != "-":
            lat.setdefault(key, []).append(float(r["latency_ms"]))
        xacts = r.get("xacts", "-")
        if cpu != "-" and xacts not in ("-", "0"):
            cpu_tx.setdefault(key, []).append(float(cpu) / int(xacts) * 1e6)
            cores.setdefault(key, []).append(float(cpu) * tp / int(xacts))

    def med(d: dict, key) -> float | None:
        vals = d.get(key)
        return statistics.median(vals) if vals else None

    def wl(prefix: str) -> str | None:
        """The workload label that starts with `prefix` (labels are padded)."""
        for w in workloads:
            if " ".join(w.split()) == prefix:
                return w
        return None

    meta = read_kv(meta_file)
    legend = [(k[len("binary."):], v) for k, v in meta.items() if k.startswith("binary.")]
    if legend:
        for t, v in legend:
            print(f"{t}: {v}")
        print()

    wcol = max([len("workload")] + [len(w) for w in workloads]) + 2
    tcol = max([len("target")] + [len(t) for t in targets]) + 2
    print("Medians over rounds. TPS without initial connection time (with it for -C); x direct /")
    print("x pgb = TPS / direct's / PgBouncer's TPS; latency = pgbench's latency average, +us =")
    print("over direct's; CPU = the proxy's user+system CPU (all its processes) per transaction and")
    print("in cores (CPU seconds per second of the run); '-' = no proxy (direct PostgreSQL)")
    print(f"{'workload':<{wcol}}{'target':<{tcol}}{'TPS':>8}{'x direct':>9}{'x pgb':>7}{'lat ms':>9}"
          f"{'+us':>7}{'CPU us/tx':>11}{'cores':>7}")
    for w in workloads:
        d = med(tps, (w, "direct"))
        b = med(tps, (w, "pgbouncer"))
        dl = med(lat, (w, "direct"))
        for i, t in enumerate(targets):
            key = (w, t)
            sk = key in skipped
            v = med(tps, key)
            ratio = rb = plus = "-"
            if t != "direct":
                if v is not None and d:
                    ratio = f"{v / d:.2f}x"
                l = med(lat, key)
                if l is not None and dl is not None:
                    plus = f"{(l - dl) * 1000:+.0f}"
            if t in proxied and t != "pgbouncer" and v is not None and b:
                rb = f"{v / b:.2f}x"
            if t in proxied:
                c_tx = fmt_num(med(cpu_tx, key), 1, sk)
                c_co = fmt_num(med(cores, key), 2, sk)
            else:
                c_tx = c_co = "-"
            label = w if i == 0 else ""
            print(f"{label:<{wcol}}{t:<{tcol}}{fmt_num(v, 0, sk):>8}{ratio:>9}{rb:>7}"
                  f"{fmt_num(med(lat, key), 3, sk):>9}{plus:>7}{c_tx:>11}{c_co:>7}")

    if failed:
        print()
        print("Failed runs (non-zero pgbench exit or no tps line; see the raw outputs):")
        for (w, t), n in failed.items():
            print(f"  {w} / {t}: {n}")

    # syscalls.tsv: perf stat over a fixed number of -S transactions.
    sysc: dict[tuple[str, str], tuple[float, float, float]] = {}
    kinds: dict[tuple[str, str], dict[str, float]] = {}   # per query, by system call
    if syscall_file and os.path.exists(syscall_file):
        with open(syscall_file, newline="") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                try:
                    n = int(r["xacts"])
                    sysc[(r["target"], r["clients"])] = (
                        float(r["syscalls"]) / n, float(r["context_switches"]) / n,
                        float(r["task_clock_ms"]) * 1000 / n)
                except (ValueError, ZeroDivisionError):
                    continue
                k = perf_kinds(r["file"] + ".perf")
                if k:
                    kinds[(r["target"], r["clients"])] = {name: v / n for name, v in k.items() if v}

    rss = read_kv(rss_file)

    def mib_kb(key: str) -> float | None:
        v = rss.get(key)
        return int(v) / 1024 if v and v.isdigit() else None

    idle_counts = sorted({int(k.split(".idle", 1)[1].split("_", 1)[0]) for k in rss
                          if ".idle" in k and k.split(".idle", 1)[1].split("_", 1)[0].isdigit()})

    # The compact table: one line per proxy target.
    ws, we, wp = wl("-S simple c16"), wl("-S extended c16"), wl("-S prepared c16")
    wc, w1 = wl("-S -C simple c8"), wl("-S simple c1")
    print()
    print("Summary (x = ratio to direct / to PgBouncer; CPU = proxy us per query at -S simple c16;")
    print("+lat = us over direct at 1 client; sys/q and cs/q = the proxy's system calls and context")
    print("switches per query, perf stat over pgbench -S -t at 16 clients and at 1; RSS with N idle")
    print("clients, for the binary, primary only)")
    head = f"{'target':<{tcol}}"
    for name in ("-S simple", "-S extended", "-S prepared"):
        head += f"{name:>15}"
    head += f"{'CPU us/q':>9}{'+lat us':>8}{'sys/q16':>8}{'sys/q1':>7}{'cs/q16':>7}{'-C tps':>14}"
    for n in idle_counts:
        head += f"{'RSS ' + str(n):>10}"
    print(head)

    def pair(w: str | None, t: str) -> str:
        if w is None:
            return "-"
        v = med(tps, (w, t))
        if v is None:
            return "n/a"
        d, b = med(tps, (w, "direct")), med(tps, (w, "pgbouncer"))
        a = f"{v / d:.2f}" if d else "-"
        c = f"{v / b:.2f}" if (b and t in proxied and t != "pgbouncer") else "-"
        return f"{a} / {c}"

    for t in targets:
        if t == "direct":
            continue
        line = f"{t:<{tcol}}"
        for w in (ws, we, wp):
            line += f"{pair(w, t):>15}"
        c = med(cpu_tx, (ws, t)) if ws else None
        line += f"{fmt_num(c, 1, True) if t in proxied else '-':>9}"
        l1, d1 = (med(lat, (w1, t)), med(lat, (w1, "direct"))) if w1 else (None, None)
        line += f"{(f'{(l1 - d1) * 1000:+.0f}' if l1 is not None and d1 is not None else '-'):>8}"
        s16, s1 = sysc.get((t, "16")), sysc.get((t, "1"))
        line += f"{(f'{s16[0]:.1f}' if s16 else '-'):>8}{(f'{s1[0]:.1f}' if s1 else '-'):>7}"
        line += f"{(f'{s16[1]:.2f}' if s16 else '-'):>7}"
        if wc:
            v, b = med(tps, (wc, t)), med(tps, (wc, "pgbouncer"))
            cs = "-" if v is None else (f"{v:.0f} ({v / b:.2f})" if b and t != "pgbouncer" else f"{v:.0f}")
        else:
            cs = "-"
        line += f"{cs:>14}"
        for n in idle_counts:
            m = mib_kb(f"{t}.idle{n}_rss_kb")
            line += f"{(f'{m:.1f} MiB' if m is not None else ('ERR' if f'{t}.idle{n}_error' in rss else '-')):>10}"
        print(line)

    # Errors of the idle test and the load-phase peaks.
    for k, v in rss.items():
        if k.endswith("_error"):
            print(f"  idle test {k[:-len('_error')]}: {v}")
    peaks = [f"{k[:-len('.load_hwm_kb')]} {mib_kb(k):.1f} MiB" for k in rss
             if k.endswith(".load_hwm_kb") and mib_kb(k) is not None]
    if peaks:
        print("  peak RSS under load (VmHWM): " + "; ".join(peaks))
    if sysc:
        print("  proxy CPU per query in the perf stat runs (task-clock, us): " + "; ".join(
            f"{t} c{c} {v[2]:.1f}" for (t, c), v in sysc.items()))
    for (t, c), k in kinds.items():
        print(f"  {t} c{c} system calls per query: " + ", ".join(
            f"{name} {v:.2f}" for name, v in sorted(k.items(), key=lambda kv: -kv[1])))

    # The goals of this machine's comparison (issue 16).
    sp_bases = [t for t in targets if t.startswith("swiftpool") and "-lb" not in t]
    if sp_bases and "pgbouncer" in targets:
        print()
        print("Goals (same run):")

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    for sp in sp_bases if "pgbouncer" in targets else []:
        goals = []
        for w in (ws, we):
            if w is None:
                continue
            a, b = med(cpu_tx, (w, sp)), med(cpu_tx, (w, "pgbouncer"))
            ok = None if a is None or b is None else a <= b
            goals.append(f"CPU/query {' '.join(w.split()[:2])} {fmt_num(a, 1)} vs {fmt_num(b, 1)} us: {verdict(ok)}")
            a, b = med(tps, (w, sp)), med(tps, (w, "pgbouncer"))
            ok = None if a is None or b is None else a >= b
            goals.append(f"TPS {' '.join(w.split()[:2])} primary only {fmt_num(a)} vs {fmt_num(b)}: {verdict(ok)}")
        if w1:
            a, b, d = med(lat, (w1, sp)), med(lat, (w1, "pgbouncer")), med(lat, (w1, "direct"))
            ok = None if a is None or b is None else a <= b
            show = (lambda x: f"{(x - d) * 1000:+.0f}" if x is not None and d is not None else "?")
            goals.append(f"added latency c1 {show(a)} vs {show(b)} us: {verdict(ok)}")
        bal = sp + "-lball"
        if "pgpool" in targets and bal in targets:
            for w in (ws, we):
                if w is None:
                    continue
                a, b = med(tps, (w, bal)), med(tps, (w, "pgpool"))
                ok = None if a is None or b is None else a >= 2 * b
                goals.append(f"balanced {' '.join(w.split()[:2])} {fmt_num(a)} vs 2 x Pgpool-II {fmt_num(b)}: {verdict(ok)}")
        for n, limit in ((100, 32), (1000, 64)):
            m = mib_kb(f"{sp}.idle{n}_rss_kb")
            if m is not None or f"{sp}.idle{n}_error" in rss:
                goals.append(f"RSS at {n} idle {fmt_num(m, 1)} MiB <= {limit}: {verdict(None if m is None else m <= limit)}")
        if wc:
            a, b = med(tps, (wc, sp)), med(tps, (wc, "pgbouncer"))
            ok = None if a is None or b is None else a >= b
            goals.append(f"-C {fmt_num(a)} vs {fmt_num(b)} TPS: {verdict(ok)}")
        print(f"{sp}:")
        for g in goals:
            print(f"  {g}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    cmd, args = argv[1], argv[2:]
    if cmd == "free-port":
        print(free_port())
        return 0
    if cmd == "wait-port":
        pid = int(args[2]) if len(args) > 2 else None
        return wait_port(int(args[0]), float(args[1]), pid)
    if cmd == "parse":
        print("\t".join(parse(args[0])))
        return 0
    if cmd == "cpu-seconds":
        print(f"{cpu_seconds(int(args[0])):.2f}")
        return 0
    if cmd == "idle":
        return idle(args)
    if cmd == "session-pids":
        print(session_pids(int(args[0])))
        return 0
    if cmd == "perf-stat":
        print("\t".join(perf_stat(args[0])))
        return 0
    if cmd == "summary":
        return summary(*args[:4])
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
