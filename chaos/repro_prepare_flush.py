#!/usr/bin/env python3
"""Reproduction for the soak's hung asyncpg sessions: a statement prepared with Parse +
Describe + Flush (no Sync), as asyncpg's Connection.prepare() and copy_records_to_table() send
it, followed by a simple Query.  PostgreSQL answers the Query; through SwiftPool the session
stops answering.

    chaos/repro_prepare_flush.py [--tries 3]

Each try opens a new asyncpg connection, runs `await conn.prepare(SQL)` and then
`await conn.execute('SELECT 1')` with a 5 s limit, first against the primary directly, then
through SwiftPool.  Uses the soak's private cluster (/tmp/swiftpool-chaos, ports 16601-16604,
SwiftPool on 16432) and removes it at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import asyncpg  # noqa: E402

import soak  # noqa: E402

CASES = [
    ("prepare('SELECT 1'), then execute('SELECT 1')", "SELECT 1", "SELECT 1"),
    ("prepare of a table query, then execute('SELECT 1')", "SELECT a FROM chaos_t LIMIT 1", "SELECT 1"),
    ("copy_records_to_table (prepare + COPY FROM STDIN)", None, None),
    ("in a transaction: copy_records_to_table, then COMMIT (the soak's asyncpg_copy)", None, "tx"),
]


async def attempt(port: int, prepare_sql: str | None, then_sql: str | None) -> str:
    conn = await asyncpg.connect(host=soak.HOST, port=port, user=soak.APP_USER,
                                 password=soak.USERS[soak.APP_USER], database=soak.DB, timeout=10)

    async def work() -> None:
        if prepare_sql is None and then_sql == "tx":
            async with conn.transaction():
                await conn.copy_records_to_table("chaos_t", records=[(1,)], columns=["a"])
        elif prepare_sql is None:
            await conn.copy_records_to_table("chaos_t", records=[(1,)], columns=["a"])
        else:
            await conn.prepare(prepare_sql)
            await conn.execute(then_sql)
    task = asyncio.ensure_future(work())
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    done, _ = await asyncio.wait({task}, timeout=5)
    try:
        if not done:
            return "HUNG (no answer within 5 s)"
        task.result()
        return "ok"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        conn.terminate()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=3)
    a = ap.parse_args()
    c = soak.Cluster(Path("/tmp/swiftpool-chaos"), 16601, 3)
    c.run("down", "--purge", check=False)
    c.run("up")
    c.pg_bin = next(line.split("'")[1] for line in c.run("env").stdout.splitlines() if "PG_BIN=" in line)
    c.sql(0, "CREATE TABLE chaos_t (a int)", db=soak.DB)
    c.sql(0, "GRANT ALL ON chaos_t TO app_readwrite", db=soak.DB)
    sp = soak.SwiftPool(Path(soak.REPO / ".build" / "release" / "swiftpool"),
                        Path("/tmp/swiftpool-chaos-repro-prepare"), c, 16432, 16719, 16898)
    sp.write_config(10)
    soak.CLEANUP.append(lambda: sp.stop(soak.signal.SIGKILL, 10) if sp.alive() else None)
    soak.CLEANUP.append(lambda: c.run("down", "--purge", check=False))
    sp.start()
    time.sleep(2)
    hung = 0
    try:
        for title, prep, then in CASES:
            for label, port in (("direct to the primary", c.port(0)), ("through SwiftPool", sp.port)):
                results = [asyncio.run(attempt(port, prep, then)) for _ in range(a.tries)]
                hung += sum(r.startswith("HUNG") for r in results) if port == sp.port else 0
                print(f"{title}, {label}: {results}", flush=True)
    finally:
        for fn in reversed(soak.CLEANUP):
            fn()
    return 1 if hung else 0


if __name__ == "__main__":
    sys.exit(main())
