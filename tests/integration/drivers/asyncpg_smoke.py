#!/usr/bin/env python3
"""asyncpg smoke test: fetch, fetchval with parameters, a prepared statement,
transactions (commit and rollback), COPY in and out.  Prints one JSON object;
exits non-zero on any error.

    python3 asyncpg_smoke.py [--host H] [--port P] [--user U] [--password PW]
                             [--database DB] [--read-only]

Unset options fall back to PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
--read-only skips everything that writes (for read-only users/standbys).
"""
import argparse
import asyncio
import io
import json
import os
import sys

import asyncpg


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("PGHOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    p.add_argument("--user", default=os.environ.get("PGUSER"))
    p.add_argument("--password", default=os.environ.get("PGPASSWORD"))
    p.add_argument("--database", default=os.environ.get("PGDATABASE"))
    p.add_argument("--read-only", action="store_true")
    return p.parse_args(argv)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def run(args):
    out = {}
    conn = await asyncpg.connect(
        host=args.host, port=args.port, user=args.user, password=args.password,
        database=args.database, timeout=10, server_settings={"application_name": "asyncpg_smoke"},
    )
    try:
        rows = await conn.fetch("SELECT 1 AS one, current_user AS usr, version() AS version")
        out["fetch"] = {"one": rows[0]["one"], "user": rows[0]["usr"],
                        "server": " ".join(rows[0]["version"].split()[:2])}

        val = await conn.fetchval("SELECT $1::int + $2::int", 40, 2)
        check(val == 42, f"fetchval returned {val!r}")
        txt = await conn.fetchval("SELECT $1::text || '!'", "héllo")
        check(txt == "héllo!", f"text parameter returned {txt!r}")
        out["fetchval"] = [val, txt]

        stmt = await conn.prepare("SELECT count(*) FROM generate_series(1, $1::int)")
        counts = [await stmt.fetchval(10), await stmt.fetchval(20)]
        check(counts == [10, 20], f"prepared statement returned {counts}")
        out["prepared"] = counts

        buf = io.BytesIO()
        await conn.copy_from_query("SELECT g, 'row ' || g FROM generate_series(1, $1::int) g", 5,
                                   output=buf, format="csv")
        lines = buf.getvalue().decode().splitlines()
        check(len(lines) == 5 and lines[0] == "1,row 1", f"copy out gave {lines!r}")
        out["copy_out_rows"] = len(lines)

        if args.read_only:
            async with conn.transaction(readonly=True):
                n = await conn.fetchval("SELECT count(*) FROM pg_class")
            out["transaction"] = {"read_only": True, "pg_class_rows": n}
        else:
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE asyncpg_smoke (id int PRIMARY KEY, v text)")
                await conn.executemany("INSERT INTO asyncpg_smoke VALUES ($1, $2)", [(1, "a"), (2, "b")])
            try:
                async with conn.transaction():
                    await conn.execute("INSERT INTO asyncpg_smoke VALUES (3, 'c')")
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            n = await conn.fetchval("SELECT count(*) FROM asyncpg_smoke")
            check(n == 2, f"after commit + rollback expected 2 rows, got {n}")
            out["transaction"] = {"committed_rows": 2, "after_rollback": n}

            res = await conn.copy_records_to_table(
                "asyncpg_smoke", records=[(10 + i, f"copied {i}") for i in range(100)])
            n = await conn.fetchval("SELECT count(*) FROM asyncpg_smoke")
            check(res == "COPY 100" and n == 102, f"copy in: {res!r}, rows {n}")
            out["copy_in"] = res

            try:
                await conn.fetchval("SELECT 1/0")
                raise AssertionError("division by zero did not fail")
            except asyncpg.DivisionByZeroError as e:
                out["error_sqlstate"] = e.sqlstate
        out["ok"] = True
    finally:
        await conn.close()
    return out


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        out = asyncio.run(run(args))
    except Exception as e:  # report any failure as JSON and a non-zero exit
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}",
                          "sqlstate": getattr(e, "sqlstate", None)}))
        return 1
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
