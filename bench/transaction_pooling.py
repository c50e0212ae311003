#!/usr/bin/env python3
"""bench/transaction_pooling.py — many clients over few backend connections: SwiftPool in
transaction mode against PgBouncer in transaction mode and direct PostgreSQL.

For each target, `pgbench -S` (simple protocol) and `pgbench -S -M prepared` (named prepared
statements) with --clients clients (default 200) for --seconds each; reports throughput and its
ratio to direct PostgreSQL and to PgBouncer, the most backend connections the target held at once
(sampled from pg_stat_activity every 100 ms), the proxy's resident memory at the end of the
run, its CPU time (user + system, every thread, and each of the two) per transaction pgbench
completed, and with --rounds the busy CPU time of the whole machine per transaction (PostgreSQL,
pgbench and the proxy together). Both proxies send every query to the primary (SwiftPool with load_balance_mode = off) with
--pool-size backend connections (SwiftPool: transaction_pool_size; PgBouncer: default_pool_size).
Direct PostgreSQL runs only when max_connections leaves room for the clients; PgBouncer before
1.21 has no prepared statements in transaction mode, so its `-M prepared` run fails, and the
table says so.

Run on purpose, never in CI:
  bench/transaction_pooling.py [--seconds 10] [--clients 200] [--rounds 3] [--binary2 PATH]
With --rounds N the targets take turns N times, in reverse order every other round, and the
table shows each one's median (this machine's throughput drifts by tens of per cent between
minutes, so one run each compares little); each SwiftPool's ratio to PgBouncer is also shown
round by round; --binary2 adds a second SwiftPool build ("swiftpool2") to the same rounds, --settings2 (with or
without --binary2) gives the second one other settings, e.g. --settings2 num_event_loops=1.
It uses $SWIFTPOOL_BIN, else .build/release/swiftpool, the cluster of scripts/pg-cluster.sh,
and pgbench tables in swiftpool_test (initialised at scale 1 when missing).
"""
from __future__ import annotations

import argparse
import os
import statistics
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tls import DB, PASSWORD, USER, cluster_env, start_pgbouncer  # noqa: E402
from watchdog import HOST, REPO, binary, start_from_demo  # noqa: E402


def psql(port: int, sql: str) -> str:
    env = {**os.environ, "PGPASSWORD": "postgrespass"}
    return subprocess.run(["psql", "-X", "-A", "-t", "-h", HOST, "-p", str(port), "-U", "postgres", "-d", DB, "-c", sql],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()


def ensure_pgbench_tables(primary: int) -> None:
    if psql(primary, "SELECT to_regclass('pgbench_accounts') IS NOT NULL") == "t":
        # Tables another user made (a test's pgbench -i as postgres) are made again as ours.
        if psql(primary, f"SELECT pg_get_userbyid(relowner) = '{USER}' FROM pg_class "
                         "WHERE oid = 'pgbench_branches'::regclass") == "t":
            return
        psql(primary, "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers")
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    subprocess.run(["pgbench", "-i", "-s", "1", "-h", HOST, "-p", str(primary), "-U", USER, DB], env=env,
                   capture_output=True, check=True)


class Sampler:
    """The most backend connections pgbench's clients use on the primary (they carry the run's own
    application_name, through a proxy too), and the proxy's RSS."""

    def __init__(self, primary: int, pid: int | None, application_name: str):
        self.primary, self.pid, self.application_name = primary, pid, application_name
        self.most_connections = 0
        self.rss_kib = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.is_set():
            count = psql(self.primary, f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{USER}' "
                                       f"AND application_name = '{self.application_name}'")
            self.most_connections = max(self.most_connections, int(count))
            if self.pid:
                status = Path(f"/proc/{self.pid}/status").read_text()
                self.rss_kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            time.sleep(0.1)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def cpu_seconds(pid: int | None) -> tuple[float, float]:
    """User and system time of a process, all its threads (0 without a pid: direct PostgreSQL)."""
    if not pid:
        return 0.0, 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent busy so far (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def pgbench(port: int, seconds: float, clients: int, prepared: bool, application_name: str) -> tuple[float | None, str, int]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "PGPASSWORD": PASSWORD,
           "PGSSLMODE": "disable", "PGAPPNAME": application_name}
    args = ["pgbench", "-n", "-S", "-h", HOST, "-p", str(port), "-U", USER, "-c", str(clients), "-j", "2",
            "-T", str(int(seconds)), DB]
    if prepared:
        args[3:3] = ["-M", "prepared"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds * 4 + 120)
    match = re.search(r"tps = ([0-9.]+)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    if out.returncode != 0 or not match or (failed and int(failed.group(1)) > 0):
        lines = [line for line in out.stderr.splitlines() if "error" in line.lower() or "fatal" in line.lower()]
        return None, (lines[0] if lines else out.stderr.strip()[-200:])[:110], 0
    return float(match.group(1)), "", int(done.group(1)) if done else 0


def paired_ratios(turns: list, bouncer_turns: list) -> list[float]:
    """A target's throughput over PgBouncer's round by round: the two ran minutes apart at most,
    so a ratio within a round is less moved by the machine's drift than a ratio of medians."""
    return [turn[0] / other[0] for turn, other in zip(turns, bouncer_turns)
            if turn[0] is not None and other[0] is not None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--pool-size", type=int, default=20)
    ap.add_argument("--event-loops", type=int, default=0, help="SwiftPool's num_event_loops (default: one per core)")
    ap.add_argument("--rounds", type=int, default=1, help="turns per target; the table shows medians")
    ap.add_argument("--binary2", help="a second swiftpool binary in the same rounds (before/after a change)")
    ap.add_argument("--settings2", default="", metavar="NAME=VALUE,...",
                    help="pgpool.conf settings of the second SwiftPool (with --binary2, or the same binary)")
    a = ap.parse_args()
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, stdout=subprocess.DEVNULL)
    primary = int(cluster_env()["PG_PRIMARY_PORT"])
    ensure_pgbench_tables(primary)
    root = Path(tempfile.mkdtemp(prefix="swiftpool-txpool-bench-"))
    root.chmod(0o755)  # PgBouncer runs as postgres when this runs as root
    (root / "sp").mkdir()
    (root / "pgb").mkdir()
    procs: list[subprocess.Popen] = []
    try:
        settings = {"load_balance_mode": "off", "pool_mode": "'transaction'", "transaction_pool_size": a.pool_size,
                    "num_init_children": a.clients + 50, "log_min_messages": "warning",
                    **({"num_event_loops": a.event_loops} if a.event_loops else {})}
        sp, sp_port = start_from_demo(root / "sp", settings)
        procs.append(sp)
        targets: dict[str, tuple[int, int | None]] = {"swiftpool": (sp_port, sp.pid)}
        if a.binary2 or a.settings2:
            (root / "sp2").mkdir()
            first = os.environ.get("SWIFTPOOL_BIN")
            os.environ["SWIFTPOOL_BIN"] = a.binary2 or str(binary())
            settings2 = {**settings, **dict(item.split("=", 1) for item in a.settings2.split(",") if item)}
            try:
                sp2, sp2_port = start_from_demo(root / "sp2", settings2)
            finally:
                if first is None:
                    os.environ.pop("SWIFTPOOL_BIN")
                else:
                    os.environ["SWIFTPOOL_BIN"] = first
            procs.append(sp2)
            targets["swiftpool2"] = (sp2_port, sp2.pid)
        pgb = start_pgbouncer(root / "pgb", primary, max_client_conn=a.clients + 100, pool_size=a.pool_size)
        if pgb:
            procs.append(pgb[0])
            targets["pgbouncer"] = (pgb[1], pgb[0].pid)
        else:
            print("note: pgbouncer is not installed (apt-get install pgbouncer)")
        room = int(psql(primary, "SELECT current_setting('max_connections')::int - "
                                 "current_setting('superuser_reserved_connections')::int - count(*) FROM pg_stat_activity"))
        if room >= a.clients + 5:
            targets = {"direct": (primary, None), **targets}
        else:
            print(f"note: direct PostgreSQL skipped: max_connections leaves room for {room} clients, not {a.clients}")
        print(f"binary {binary()}{f', binary2 {a.binary2}' if a.binary2 else ''}"
              f"{f', swiftpool2 with {a.settings2}' if a.settings2 else ''}, {a.clients} clients, "
              f"{a.seconds:.0f} s per run, {a.rounds} round(s), pool size {a.pool_size}, primary only")
        runs: dict[tuple[str, bool], list[tuple[float | None, str, int, int, tuple[float, float] | None, float | None]]] = {}
        for round_index in range(a.rounds):
            # Every other round runs the targets in reverse order: whoever runs first in a round
            # meets a backend cache and a machine load the next one does not.
            order = list(targets.items()) if round_index % 2 == 0 else list(reversed(targets.items()))
            for prepared in (False, True):
                for name, (port, pid) in order:
                    application_name = f"bench-{name}-{'prepared' if prepared else 'simple'}"
                    cpu_before = cpu_seconds(pid)
                    machine_before = machine_busy_seconds()
                    with Sampler(primary, pid, application_name) as sampler:
                        tps, error, transactions = pgbench(port, a.seconds, a.clients, prepared, application_name)
                    cpu_after = cpu_seconds(pid)
                    machine = (machine_busy_seconds() - machine_before) / transactions * 1e6 if transactions else None
                    per_query = (tuple((after - before) / transactions * 1e6 for before, after in zip(cpu_before, cpu_after))
                                 if pid and transactions else None)
                    runs.setdefault((name, prepared), []).append((tps, error, sampler.most_connections, sampler.rss_kib, per_query, machine))
        results: dict[tuple[str, bool], tuple[float | None, str, int, int, tuple[float, float] | None]] = {}
        for key, turns in runs.items():
            done = [turn[0] for turn in turns if turn[0] is not None]
            error = next((turn[1] for turn in turns if turn[0] is None), "")
            costs = [turn[4] for turn in turns if turn[4] is not None]
            results[key] = (statistics.median(done) if done and not error else None, error,
                            max(turn[2] for turn in turns), max(turn[3] for turn in turns),
                            # The round of median total CPU, with its user/system split.
                            sorted(costs, key=sum)[(len(costs) - 1) // 2] if costs else None)
            if a.rounds > 1 and done:
                print(f"  {key[0]:10} {'prepared' if key[1] else 'simple':9} rounds: {' '.join(f'{t:.0f}' for t in done)}")
                if costs:
                    print(f"  {'':10} {'':9} user/sys µs/tx: {' '.join(f'{u:.1f}/{s:.1f}' for u, s in costs)}")
                machine = [turn[5] for turn in turns if turn[5] is not None]
                if machine:
                    print(f"  {'':10} {'':9} whole machine µs/tx: {' '.join(f'{m:.1f}' for m in machine)}")
        for key in runs:
            paired = paired_ratios(runs[key], runs.get(("pgbouncer", key[1]), []))
            if key[0] != "pgbouncer" and len(paired) > 1:
                print(f"  {key[0]:10} {'prepared' if key[1] else 'simple':9} x pgbouncer by round: "
                      f"{' '.join(f'{r:.2f}' for r in paired)}; median {statistics.median(paired):.2f}x, "
                      f"{sum(r >= 1 for r in paired)} of {len(paired)} rounds at or above")
        print(f"{'target':10} {'mode':9} {'tps':>9} {'x direct':>9} {'x pgbouncer':>12} {'backends':>9} {'RSS MiB':>8} {'CPU us/tx':>10} {'user':>6} {'sys':>6}")
        for prepared in (False, True):
            for name in targets:
                tps, error, backends, rss, per_query = results[(name, prepared)]
                direct = results.get(("direct", prepared), (None,))[0]
                bouncer = results.get(("pgbouncer", prepared), (None,))[0]
                mode = "prepared" if prepared else "simple"
                if tps is None:
                    print(f"{name:10} {mode:9} {'failed':>9}   {error}")
                    continue
                ratio = f"{tps / direct:8.2f}x" if direct else f"{'-':>9}"
                versus = f"{tps / bouncer:11.2f}x" if bouncer else f"{'-':>12}"
                memory = f"{rss / 1024:8.1f}" if rss else f"{'-':>8}"
                cost = (f"{sum(per_query):10.1f} {per_query[0]:6.1f} {per_query[1]:6.1f}" if per_query
                        else f"{'-':>10} {'-':>6} {'-':>6}")
                print(f"{name:10} {mode:9} {tps:9.0f} {ratio} {versus} {backends:9d} {memory} {cost}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
