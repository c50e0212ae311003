#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only, except `idle`, which
needs psycopg 3).

  benchlib.py free-port
      print a TCP port on 127.0.0.1 that was free a moment ago
  benchlib.py wait-port PORT TIMEOUT [PID]
      exit 0 once 127.0.0.1:PORT accepts connections; 1 on timeout; 2 if
      PID exits first
  benchlib.py parse FILE
      print "TPS<TAB>LATENCY_MS" from one pgbench output ("-" when missing);
      TPS is the "tps = N (without initial connection time)" value
  benchlib.py idle --port P --user U --dbname D --count N --ready-file F
                   --release-file F [--hold-max S]
      open N connections (password from PGPASSWORD), run SELECT 1 on each,
      keep them open, touch READY-FILE, and wait (at most HOLD-MAX seconds)
      until RELEASE-FILE exists; then close them
  benchlib.py summary RESULTS.tsv RSS_FILE
      print the result table (see run.sh)
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


def parse(path: str) -> tuple[str, str]:
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return "-", "-"
    tps = TPS_RE.search(text)
    lat = LAT_RE.search(text)
    return (tps.group(1) if tps else "-", lat.group(1) if lat else "-")


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


def summary(results_tsv: str, rss_file: str) -> int:
    # results.tsv: round workload target tps latency_ms exit_code file
    rows = []
    with open(results_tsv) as f:
        header = f.readline()
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 6:
                rows.append(parts)
    workloads: list[str] = []
    targets: list[str] = []
    tps: dict[tuple[str, str], list[float]] = {}
    lat: dict[tuple[str, str], list[float]] = {}
    failed: dict[tuple[str, str], int] = {}
    skipped: set[tuple[str, str]] = set()
    for _rnd, w, t, tp, la, rc, *_ in rows:
        if w not in workloads:
            workloads.append(w)
        if t not in targets:
            targets.append(t)
        key = (w, t)
        if rc == "98":  # skipped: the target cannot run this workload
            skipped.add(key)
        elif rc == "0" and tp != "-":
            tps.setdefault(key, []).append(float(tp))
            if la != "-":
                lat.setdefault(key, []).append(float(la))
        else:
            failed[key] = failed.get(key, 0) + 1

    def med(d: dict, key) -> float | None:
        vals = d.get(key)
        return statistics.median(vals) if vals else None

    others = [t for t in targets if t != "direct"]
    wcol = max([len("workload")] + [len(w) for w in workloads]) + 2
    col = 11

    print("Median TPS over rounds (without initial connection time); ratio = target / direct")
    head = f"{'workload':<{wcol}}{'direct':>{col}}"
    for t in others:
        head += f"{t:>{col}}{'ratio':>8}"
    print(head)
    ratios: dict[tuple[str, str], float] = {}
    for w in workloads:
        d = med(tps, (w, "direct"))
        line = f"{w:<{wcol}}{fmt_num(d):>{col}}"
        for t in others:
            v = med(tps, (w, t))
            r = (v / d) if (v is not None and d) else None
            if r is not None:
                ratios[(w, t)] = r
            line += f"{fmt_num(v, 0, (w, t) in skipped):>{col}}{(f'{r:.2f}x' if r is not None else '-'):>8}"
        print(line)

    print()
    print("Median average latency (ms)")
    head = f"{'workload':<{wcol}}{'direct':>{col}}" + "".join(f"{t:>{col}}" for t in others)
    print(head)
    for w in workloads:
        line = f"{w:<{wcol}}{fmt_num(med(lat, (w, 'direct')), 2):>{col}}"
        for t in others:
            line += f"{fmt_num(med(lat, (w, t)), 2, (w, t) in skipped):>{col}}"
        print(line)

    if failed:
        print()
        print("Failed runs (non-zero pgbench exit or no tps line; see the raw outputs):")
        for (w, t), n in failed.items():
            print(f"  {w} / {t}: {n}")

    if "swiftpool" in targets:
        print()
        verdicts = []
        ok = True
        for w in workloads:
            if w.startswith("-S simple") or w.startswith("-S extended"):
                r = ratios.get((w, "swiftpool"))
                good = r is not None and r >= 0.85
                ok = ok and good
                verdicts.append(f"{' '.join(w.split()[:2])} "
                                f"{(f'{r:.2f}x' if r is not None else 'n/a')} {'ok' if good else 'BELOW'}")
        if verdicts:
            print(f"target: swiftpool/direct >= 0.85x on both -S modes: {'; '.join(verdicts)}"
                  f" -> {'MET' if ok else 'NOT MET'}")
        if "standby" in targets:
            parts = []
            for w in workloads:
                sp, sb = med(tps, (w, "swiftpool")), med(tps, (w, "standby"))
                if sp is not None and sb:
                    parts.append(f"{' '.join(w.split()[:2])} {sp / sb:.2f}x")
            if parts:
                print(f"swiftpool (reads balanced over the standbys) / one standby directly: {'; '.join(parts)}")

    rss = {}
    if rss_file and os.path.exists(rss_file):
        for line in open(rss_file):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                rss[k] = v

    def mib(key: str) -> str:
        v = rss.get(key)
        if not v or not v.isdigit():
            return "n/a"
        return f"{int(v) / 1024:.1f} MiB"

    if rss:
        idle_kib = rss.get("idle_rss_kb")
        idle_note = ""
        if idle_kib and idle_kib.isdigit():
            idle_note = " (target < 64 MiB: " + ("met" if int(idle_kib) < 64 * 1024 else "NOT met") + ")"
        else:
            idle_note = " (target < 64 MiB)"
        n_idle = rss.get("idle_clients", "100")
        if "idle_rss_kb" in rss or "idle_error" in rss or "idle_start_rss_kb" in rss:
            idle_part = f"with {n_idle} idle clients: {mib('idle_rss_kb')}{idle_note}"
        else:
            idle_part = "idle-clients test skipped"
        print(f"swiftpool peak RSS under load: {mib('load_hwm_kb')}; {idle_part}")
        extra = []
        if "load_rss_max_kb" in rss:
            extra.append(f"max sampled VmRSS under load {mib('load_rss_max_kb')}")
        if "idle_start_rss_kb" in rss:
            extra.append(f"idle instance at start {mib('idle_start_rss_kb')}")
        if "idle_hwm_kb" in rss:
            extra.append(f"idle instance VmHWM {mib('idle_hwm_kb')}")
        if "idle_error" in rss:
            extra.append(f"idle test: {rss['idle_error']}")
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
    if cmd == "idle":
        return idle(args)
    if cmd == "summary":
        return summary(args[0], args[1] if len(args) > 1 else "")
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
