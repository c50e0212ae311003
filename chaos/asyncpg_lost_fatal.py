#!/usr/bin/env python3
"""Shows what asyncpg reports when the server ends a session while no query of the application
waits for an answer: an idle connection, or one whose query `asyncio.wait_for` has abandoned.
asyncpg reads the FATAL (57P01 here, from pg_terminate_backend) with nobody to give it to, drops
it, and the next call raises InterfaceError "connection is closed", with no SQLSTATE. The soak
counts such errors against its `sqlstate` check; run this against PostgreSQL itself to see that
they come from the driver:

    chaos/asyncpg_lost_fatal.py --port 15501                 # the test cluster's primary, directly
    chaos/asyncpg_lost_fatal.py --port 15432 --admin-port 15501   # through SwiftPool

A third case, `--burst N` (50 by default): N idle connections are ended at once and each then
sends a few queries right away. Most see "connection is closed" or the server's 57P01; some see
`InternalClientError: cannot switch to state 15; another operation (2) is in progress`, without
a SQLSTATE (MagicStack/asyncpg#784): the FATAL reached the idle protocol, which went on
consuming an error, and the next query was sent before the close was seen. The soak counts that
error apart when its connection is closed right after.

Needs the test cluster (scripts/pg-cluster.sh up) and asyncpg.
"""
from __future__ import annotations

import argparse
import asyncio
from collections import Counter

import asyncpg

KW = dict(host="127.0.0.1", user="app_readwrite", password="readwrite456", database="swiftpool_test")


async def one(port: int, admin_port: int, abandon: bool) -> str:
    conn = await asyncpg.connect(port=port, server_settings={"application_name": "lost_fatal_victim"}, **KW)
    admin = await asyncpg.connect(port=admin_port, **KW)
    try:
        if abandon:
            try:
                await asyncio.wait_for(conn.fetchval("SELECT pg_sleep(6)"), 0.3)
            except asyncio.TimeoutError:
                pass
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'lost_fatal_victim'")
        await asyncio.sleep(0.2)
        try:
            await conn.fetchval("SELECT 1")
            return "no error"
        except Exception as e:  # what the application sees is the point
            return f"{type(e).__name__}: {e} (sqlstate {getattr(e, 'sqlstate', None)})"
    finally:
        conn.terminate()
        await admin.close()


async def burst(port: int, admin_port: int, connections: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    conns = [await asyncpg.connect(port=port, **KW) for _ in range(connections)]
    admin = await asyncpg.connect(port=admin_port, **KW)
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid",
                            [c.get_server_pid() for c in conns])

        async def use(conn: asyncpg.Connection) -> None:
            for _ in range(3):
                try:
                    await conn.execute("SELECT 1")
                except Exception as e:  # what the application sees is the point
                    seen[f"{type(e).__name__}: {str(e)[:70]} (sqlstate {getattr(e, 'sqlstate', None)})"] += 1
                    return
                await asyncio.sleep(0)
            seen["no error"] += 1

        await asyncio.gather(*(use(c) for c in conns))
    finally:
        for c in conns:
            c.terminate()
        await admin.close()
    return seen


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=15501, help="where the application connects")
    parser.add_argument("--admin-port", type=int, default=15501, help="the primary, to terminate the session")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--burst", type=int, default=50, help="connections ended at once in the third case")
    args = parser.parse_args()
    for abandon in (False, True):
        seen = Counter([await one(args.port, args.admin_port, abandon) for _ in range(args.trials)])
        case = "query abandoned by wait_for" if abandon else "idle connection"
        for outcome, n in seen.items():
            print(f"{case}: {n}/{args.trials}: {outcome}")
    seen = Counter()
    for _ in range(args.trials):
        seen += await burst(args.port, args.admin_port, args.burst)
    for outcome, n in seen.most_common():
        print(f"{args.burst} idle connections ended at once, {args.trials} times: {n}: {outcome}")


if __name__ == "__main__":
    asyncio.run(main())
