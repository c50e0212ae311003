#!/usr/bin/env python3
"""bench/instructions.py — user-space instructions per transaction, counted by callgrind.

Throughput and CPU time on this shared machine move by tens of per cent between minutes; the
instructions a proxy executes per transaction do not. Each target runs under valgrind's
callgrind twice, in transaction mode with a small pool: `pgbench -S` with --clients clients
(one thread) for N and then 3N transactions per client, each after a warm-up. The difference
of the two runs' totals, divided by the difference in transactions, is the work of one
transaction; start-up, logins and shutdown cancel out.

Run on purpose, never in CI (valgrind slows a proxy down about fifty times):
  bench/instructions.py [--transactions 100] [--clients 20] [--mode simple|extended|prepared] [--pgbouncer]
It measures $SWIFTPOOL_BIN, else .build/release/swiftpool (build it with
scripts/build-release.sh), and with --pgbouncer also PgBouncer in the same mode; it needs
valgrind (apt-get install valgrind) and the cluster of scripts/pg-cluster.sh. The SwiftPool
binary is measured from a copy without debug sections: valgrind 3.19 cannot read the DWARF 5
the Swift toolchain writes.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tls  # noqa: E402
from tls import DB, HOST, PASSWORD, USER, cluster_env  # noqa: E402
from watchdog import REPO, binary, start_from_demo  # noqa: E402

POOL_SIZE = 6
SWIFTPOOL_SETTINGS = {
    "load_balance_mode": "off", "pool_mode": "'transaction'", "transaction_pool_size": POOL_SIZE,
    "num_init_children": 50, "log_min_messages": "warning", "num_event_loops": 1,
    "health_check_period": 0,
}


def pgbench(port: int, clients: int, transactions: int, mode: str) -> int:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
           "PGPASSWORD": PASSWORD, "PGSSLMODE": "disable"}
    out = subprocess.run(["pgbench", "-n", "-S", "-M", mode, "-h", HOST, "-p", str(port), "-U", USER,
                          "-c", str(clients), "-j", "1", "-t", str(transactions), DB],
                         env=env, capture_output=True, text=True)
    done = re.search(r"actually processed: (\d+)", out.stdout)
    if out.returncode != 0 or not done:
        raise RuntimeError(f"pgbench failed: {out.stderr.strip()[-300:]}")
    return int(done.group(1))


def total_instructions(out_file: Path) -> int:
    text = subprocess.run(["callgrind_annotate", str(out_file)], capture_output=True, text=True).stdout
    found = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text)
    if not found:
        raise RuntimeError(f"no totals in {out_file}")
    return int(found.group(1).replace(",", ""))


def wrapper(work: Path, program: str, out_file: Path) -> Path:
    """A script that runs `program` under callgrind, writing `out_file` when it exits."""
    script = work / f"callgrind-{Path(program).name}.sh"
    script.write_text(f'#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={out_file} {program} "$@"\n')
    script.chmod(0o755)
    return script


def run_and_stop(proc: subprocess.Popen, port: int, out_file: Path, transactions: int, clients: int,
                 mode: str) -> tuple[int, int]:
    """A warm-up, then the measured run; the proxy stops, and callgrind writes `out_file`."""
    try:
        pgbench(port, clients, 20, mode)
        done = pgbench(port, clients, transactions, mode)
    finally:
        proc.terminate()
        proc.wait(120)
    return done, total_instructions(out_file)


def run_swiftpool(work: Path, stripped: Path, transactions: int, clients: int, mode: str) -> tuple[int, int]:
    root = Path(tempfile.mkdtemp(prefix="instr-sp-", dir=work))
    root.chmod(0o755)
    out_file = root / "callgrind.out"
    os.environ["SWIFTPOOL_BIN"] = str(wrapper(root, str(stripped), out_file))
    proc, port = start_from_demo(root, SWIFTPOOL_SETTINGS)
    return run_and_stop(proc, port, out_file, transactions, clients, mode)


def run_pgbouncer(work: Path, transactions: int, clients: int, mode: str) -> tuple[int, int]:
    root = Path(tempfile.mkdtemp(prefix="instr-pgb-", dir=work))
    root.chmod(0o777)
    out_file = root / "callgrind.out"
    program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    script = wrapper(root, program, out_file)
    which = shutil.which
    tls.shutil.which = lambda name: str(script) if name == "pgbouncer" else which(name)
    try:
        started = tls.start_pgbouncer(root, int(cluster_env()["PG_PRIMARY_PORT"]), pool_size=POOL_SIZE)
    finally:
        tls.shutil.which = which
    if started is None:
        raise RuntimeError("PgBouncer is not installed")
    proc, port = started
    return run_and_stop(proc, port, out_file, transactions, clients, mode)


def per_transaction(measure, transactions: int) -> tuple[float, int, int]:
    done1, total1 = measure(transactions)
    done3, total3 = measure(3 * transactions)
    return (total3 - total1) / (done3 - done1), done1, done3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transactions", type=int, default=100, help="per client in the shorter run")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--mode", choices=["simple", "extended", "prepared"], default="simple")
    ap.add_argument("--pgbouncer", action="store_true", help="measure PgBouncer too")
    a = ap.parse_args()
    for tool in ("valgrind", "callgrind_annotate", "pgbench"):
        if not shutil.which(tool):
            print(f"instructions.py: {tool} not found", file=sys.stderr)
            return 2
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="swiftpool-instructions-"))
    work.chmod(0o777)
    try:
        source = binary()
        stripped = work / "swiftpool"
        shutil.copy2(source, stripped)
        subprocess.run(["strip", "--strip-debug", str(stripped)], check=True)
        print(f"pgbench -S -M {a.mode}, {a.clients} clients, transaction mode, pool size {POOL_SIZE}, "
              f"{a.transactions} and {3 * a.transactions} transactions per client")
        rows = [("swiftpool", str(source),
                 per_transaction(lambda n: run_swiftpool(work, stripped, n, a.clients, a.mode), a.transactions))]
        if a.pgbouncer:
            rows.append(("pgbouncer", "", per_transaction(lambda n: run_pgbouncer(work, n, a.clients, a.mode),
                                                          a.transactions)))
        print(f"{'target':10} {'instructions/tx':>16}  transactions")
        for name, what, (instructions, done1, done3) in rows:
            print(f"{name:10} {instructions:16,.0f}  {done1} and {done3}  {what}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
