#!/usr/bin/env python3
"""bench/read_your_writes.py — a mixed workload (1 write, then reads of the session's own rows)
through SwiftPool with read_your_writes off, on, and disable_load_balance_on_write = 'always'.

Each of --sessions psycopg sessions repeats turns of one INSERT followed by --reads SELECTs of
its own rows (autocommit, simple protocol, statement-level balancing over the standbys). For
every mode it prints turns per second, the share of reads served by standbys, and the stale reads
(a SELECT that did not see a row the session had already inserted).

Run on purpose, never in CI:
    bench/read_your_writes.py [--sessions 8] [--seconds 10] [--reads 9] [--pause S] [--period MS]
It uses $SWIFTPOOL_BIN, else .build/release/swiftpool, else .build/debug/swiftpool, and the
cluster of scripts/pg-cluster.sh (started if needed).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watchdog import HOST, REPO, binary, start_from_demo  # noqa: E402

TABLE = "ryw_bench"
MODES = {
    "off": {"read_your_writes": "off", "disable_load_balance_on_write": "'transaction'"},
    "on": {"read_your_writes": "on", "disable_load_balance_on_write": "'transaction'"},
    "always": {"read_your_writes": "off", "disable_load_balance_on_write": "'always'"},
}


def cluster_env() -> dict[str, str]:
    out = subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "env"], capture_output=True, text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'\"")
    return env


def start(mode: str, root: Path, period: int) -> tuple[subprocess.Popen, int]:
    return start_from_demo(root, {"load_balance_mode": "on", "statement_level_load_balance": "on", "backend_weight0": 0,
                                  "read_your_writes_check_period": period, **MODES[mode]})


def session(port: int, sid: int, reads: int, pause: float, until: float, out: dict, standby_ports: set[int],
            lock: threading.Lock):
    turns = stale = on_standby = total_reads = 0
    dsn = f"host={HOST} port={port} user=app_readwrite password=readwrite456 dbname=swiftpool_test"
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        written = 0
        while time.monotonic() < until:
            conn.execute(f"INSERT INTO {TABLE} VALUES ({sid})")
            written += 1
            if pause:
                time.sleep(pause)
            for _ in range(reads):
                seen, served = conn.execute(f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = {sid}").fetchone()
                total_reads += 1
                stale += seen < written
                on_standby += served in standby_ports
            turns += 1
    with lock:
        for key, value in (("turns", turns), ("stale", stale), ("standby", on_standby), ("reads", total_reads)):
            out[key] = out.get(key, 0) + value


def run(mode: str, sessions: int, seconds: float, reads: int, pause: float, primary_port: int,
        standby_ports: set[int], period: int) -> dict:
    subprocess.run(["psql", "-X", "-q", "-h", HOST, "-p", str(primary_port), "-U", "postgres", "-d", "swiftpool_test", "-c",
                    f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (session int); GRANT ALL ON {TABLE} TO PUBLIC"],
                   check=True, capture_output=True, env={"PGPASSWORD": "postgrespass", "PATH": "/usr/bin:/bin"})
    time.sleep(1)
    root = Path(tempfile.mkdtemp(prefix=f"swiftpool-ryw-{mode}-"))
    proc, port = start(mode, root, period)
    try:
        out: dict = {}
        lock = threading.Lock()
        # Let SwiftPool learn the table first (unknown relations go to the primary meanwhile).
        with psycopg.connect(f"host={HOST} port={port} user=app_readwrite password=readwrite456 dbname=swiftpool_test",
                             autocommit=True) as conn:
            for _ in range(10):
                conn.execute(f"SELECT count(*) FROM {TABLE}")
                time.sleep(0.05)
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=session, args=(port, i, reads, pause, until, out, standby_ports, lock))
                   for i in range(sessions)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["elapsed"] = time.monotonic() - started
        return out
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--reads", type=int, default=9)
    ap.add_argument("--pause", type=float, default=0, help="seconds between a session's write and its reads")
    ap.add_argument("--period", type=int, default=50, help="read_your_writes_check_period (ms)")
    a = ap.parse_args()
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, stdout=subprocess.DEVNULL)
    env = cluster_env()
    primary = int(env["PG_PRIMARY_PORT"])
    standbys = {int(p) for p in env["PG_STANDBY_PORTS"].split()}
    print(f"binary {binary()}, {a.sessions} sessions, 1 write + {a.reads} reads per turn (after {a.pause * 1000:.0f} ms), "
          f"{a.seconds:.0f} s per mode, read_your_writes_check_period {a.period} ms")
    print(f"{'mode':8} {'turns/s':>9} {'reads on standbys':>18} {'stale reads':>12}")
    for mode in MODES:
        r = run(mode, a.sessions, a.seconds, a.reads, a.pause, primary, standbys, a.period)
        share = 100.0 * r["standby"] / max(1, r["reads"])
        print(f"{mode:8} {r['turns'] / r['elapsed']:9.1f} {share:17.1f}% {r['stale']:12d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
