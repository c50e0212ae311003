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
      time)" value, TRANSACTIONS "number of transactions actually processed"
  benchlib.py cpu-seconds SID
      print the CPU time (user + system, in seconds) of every process in
      session SID: utime + stime + cutime + cstime from /proc/<pid>/stat, so
      threads and children that were already reaped count too
  benchlib.py idle --port P --user U --dbname D --count N --ready-file F
                   --release-file F [--hold-max S]
      open N connections (password from PGPASSWORD), run SELECT 1 on each,
      keep them open, touch READY-FILE, and wait (at most HOLD-MAX seconds)
      until RELEASE-FILE exists; then close them
  benchlib.py summary RESULTS.tsv RSS_FILE [META_FILE]
      print the result table (see run.sh); META_FILE's "binary.<target>=..."
      lines are printed first as a legend
"""
from __future__ import annotations

import os
import re
import socket
import statistics
import sys
import time

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


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


TPS_RE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
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


def summary(results_tsv: str, rss_file: str, meta_file: str = "") -> int:
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

    meta = read_kv(meta_file)
    legend = [(k[len("binary."):], v) for k, v in meta.items() if k.startswith("binary.")]
    if legend:
        for t, v in legend:
            print(f"{t}: {v}")
        print()

    wcol = max([len("workload")] + [len(w) for w in workloads]) + 2
    tcol = max([len("target")] + [len(t) for t in targets]) + 2
    print("Medians over rounds. TPS without initial connection time; ratio = TPS / direct TPS;")
    print("latency = pgbench's latency average; CPU = the proxy's user+system CPU (all its")
    print("processes) per transaction and in cores (CPU seconds per second of the run);")
    print("'-' = no proxy (direct PostgreSQL)")
    print(f"{'workload':<{wcol}}{'target':<{tcol}}{'TPS':>8}{'ratio':>8}{'lat ms':>9}"
          f"{'CPU us/tx':>11}{'cores':>7}")
    ratios: dict[tuple[str, str], float] = {}
    for w in workloads:
        d = med(tps, (w, "direct"))
        for i, t in enumerate(targets):
            key = (w, t)
            sk = key in skipped
            v = med(tps, key)
            if t == "direct":
                ratio = "-"
            else:
                r = (v / d) if (v is not None and d) else None
                if r is not None:
                    ratios[key] = r
                ratio = f"{r:.2f}x" if r is not None else ("n/a" if sk else "-")
            if t in proxied:
                c_tx = fmt_num(med(cpu_tx, key), 1, sk)
                c_co = fmt_num(med(cores, key), 2, sk)
            else:
                c_tx = c_co = "-"
            label = w if i == 0 else ""
            print(f"{label:<{wcol}}{t:<{tcol}}{fmt_num(v, 0, sk):>8}{ratio:>8}"
                  f"{fmt_num(med(lat, key), 3, sk):>9}{c_tx:>11}{c_co:>7}")

    if failed:
        print()
        print("Failed runs (non-zero pgbench exit or no tps line; see the raw outputs):")
        for (w, t), n in failed.items():
            print(f"  {w} / {t}: {n}")

    sp_targets = [t for t in targets if t.startswith("swiftpool")]
    if sp_targets:
        print()
    for sp in sp_targets:
        verdicts = []
        ok = True
        for w in workloads:
            if w.startswith("-S simple") or w.startswith("-S extended"):
                r = ratios.get((w, sp))
                good = r is not None and r >= 0.85
                ok = ok and good
                verdicts.append(f"{' '.join(w.split()[:2])} "
                                f"{(f'{r:.2f}x' if r is not None else 'n/a')} {'ok' if good else 'BELOW'}")
        if verdicts:
            print(f"target: {sp}/direct >= 0.85x on both -S modes: {'; '.join(verdicts)}"
                  f" -> {'MET' if ok else 'NOT MET'}")
    if "standby" in targets:
        for sp in sp_targets:
            parts = []
            for w in workloads:
                v, sb = med(tps, (w, sp)), med(tps, (w, "standby"))
                if v is not None and sb:
                    parts.append(f"{' '.join(w.split()[:2])} {v / sb:.2f}x")
            if parts:
                print(f"{sp} / one standby directly: {'; '.join(parts)}")

    # rss.txt: "<target>.<key>=<kB>" lines (keys below).
    rss = read_kv(rss_file)

    def mib(key: str) -> str:
        v = rss.get(key)
        if not v or not v.isdigit():
            return "n/a"
        return f"{int(v) / 1024:.1f} MiB"

    for sp in sp_targets:
        p = sp + "."
        if not any(k.startswith(p) for k in rss):
            continue
        idle_kib = rss.get(p + "idle_rss_kb")
        if idle_kib and idle_kib.isdigit():
            idle_note = " (target < 64 MiB: " + ("met" if int(idle_kib) < 64 * 1024 else "NOT met") + ")"
        else:
            idle_note = " (target < 64 MiB)"
        n_idle = rss.get(p + "idle_clients", "100")
        if any(p + k in rss for k in ("idle_rss_kb", "idle_error", "idle_start_rss_kb")):
            idle_part = f"with {n_idle} idle clients: {mib(p + 'idle_rss_kb')}{idle_note}"
        else:
            idle_part = "idle-clients test skipped"
        print(f"{sp} peak RSS under load: {mib(p + 'load_hwm_kb')}; {idle_part}")
        extra = []
        if p + "load_rss_max_kb" in rss:
            extra.append(f"max sampled VmRSS under load {mib(p + 'load_rss_max_kb')}")
        if p + "idle_start_rss_kb" in rss:
            extra.append(f"idle instance at start {mib(p + 'idle_start_rss_kb')}")
        if p + "idle_hwm_kb" in rss:
            extra.append(f"idle instance VmHWM {mib(p + 'idle_hwm_kb')}")
        if p + "idle_error" in rss:
            extra.append(f"idle test: {rss[p + 'idle_error']}")
        if extra:
            print("  (" + "; ".join(extra) + ")")
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
    if cmd == "summary":
        return summary(args[0], args[1] if len(args) > 1 else "", args[2] if len(args) > 2 else "")
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
