#!/usr/bin/env python3
"""Minimal reproduction for the soak's "error without SQLSTATE" finding at a primary crash.

N psycopg clients run INSERTs in a tight loop (simple protocol, autocommit) through SwiftPool;
the primary is killed with kill -9 (postmaster and all its children at once); each client
prints the error it got.  With --direct the clients talk to the primary itself, for comparison.
--relay puts a TCP relay between the clients and SwiftPool that records which PostgreSQL
messages SwiftPool sent on each connection before closing it.

    chaos/repro_primary_kill.py [--clients 20] [--direct] [--relay] [--binary PATH]

Uses the soak's private cluster (/tmp/swiftpool-chaos, ports 16601-16604, SwiftPool on 16432,
relay on 16433) and removes it at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg  # noqa: E402

import soak  # noqa: E402


async def relay(listen: int, target: int, records: list, stop: asyncio.Event) -> None:
    async def s2c(r, w, rec):
        buf, first = b"", True
        try:
            while data := await r.read(65536):
                part = data
                if first:
                    first = False
                    if data[:1] in (b"N", b"S"):      # answer to SSLRequest: one byte
                        part = data[1:]
                buf += part
                while len(buf) >= 5 and len(buf) >= 1 + int.from_bytes(buf[1:5], "big"):
                    n = int.from_bytes(buf[1:5], "big")
                    if buf[:1] == b"E":
                        fields = {f[:1].decode(): f[1:].decode(errors="replace")
                                  for f in buf[5:1 + n].split(b"\0") if f}
                        rec.setdefault("errors_sent", []).append(fields.get("C"))
                    buf = buf[1 + n:]
                w.write(data)
                await w.drain()
        except OSError as e:
            rec["swiftpool_side"] = repr(e)
        finally:
            w.close()

    async def c2s(r, w):
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    async def handle(cr, cw):
        sr, sw = await asyncio.open_connection(soak.HOST, target)
        rec = {"client_port": cw.get_extra_info("peername")[1]}
        records.append(rec)
        await asyncio.gather(s2c(sr, cw, rec), c2s(cr, sw))

    srv = await asyncio.start_server(handle, soak.HOST, listen)
    async with srv:
        while not stop.is_set():
            await asyncio.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--direct", action="store_true")
    ap.add_argument("--relay", action="store_true")
    ap.add_argument("--binary", default=str(soak.REPO / ".build" / "release" / "swiftpool"))
    a = ap.parse_args()
    c = soak.Cluster(Path("/tmp/swiftpool-chaos"), 16601, 3)
    c.run("down", "--purge", check=False)
    c.run("up")
    c.pg_bin = next(line.split("'")[1] for line in c.run("env").stdout.splitlines() if "PG_BIN=" in line)
    for i in c.nodes:
        c.set_sync(i)
    c.sql(0, "CREATE TABLE IF NOT EXISTS t (id int)", db=soak.DB)
    c.sql(0, "GRANT ALL ON t TO app_readwrite", db=soak.DB)
    sp = soak.SwiftPool(Path(a.binary),
                        Path("/tmp/swiftpool-chaos-repro"), c, 16432, 16719, 16898)
    sp.write_config(10)
    sp.start()
    records: list = []
    stop_relay = asyncio.Event()
    port = 16601 if a.direct else 16432
    if a.relay:
        threading.Thread(target=lambda: asyncio.run(relay(16433, 16432, records, stop_relay)),
                         daemon=True).start()
        time.sleep(0.5)
        port = 16433
    time.sleep(2)
    results: collections.Counter = collections.Counter()
    stop = threading.Event()

    def client(k: int) -> None:
        conn = psycopg.connect(host=soak.HOST, port=port, user=soak.APP_USER,
                               password=soak.USERS[soak.APP_USER], dbname=soak.DB, autocommit=True)
        # libpq hands a FATAL read in the same packet as the previous reply (the connection
        # being idle then) to the notice receiver, not to the next query.
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.sqlstate or "?") if d.severity_nonlocalized == "FATAL" else None)
        try:
            while not stop.is_set():
                conn.execute(f"INSERT INTO t VALUES ({k})")
        except psycopg.Error as e:
            state = e.sqlstate or (f"{notices[-1]} (as a notice)" if notices else None)
            results[f"sqlstate={state}: {' '.join(str(e).split())[:100]}"] += 1
    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    for t in threads:
        t.start()
    time.sleep(3)
    print(f"kill -9 of the primary: {c.kill9(0)} processes")
    for t in threads:
        t.join(30)
    stop.set()
    print(f"errors seen by {a.clients} clients ({'direct' if a.direct else 'through SwiftPool'}):")
    for k, v in results.most_common():
        print(f"  {v:3}  {k}")
    if a.relay:
        time.sleep(0.5)
        seen = collections.Counter((tuple(r.get("errors_sent", [])), r.get("swiftpool_side")) for r in records)
        print("what SwiftPool sent on each connection before closing (relay):")
        for k, v in seen.most_common():
            print(f"  {v:3}  ErrorResponse codes {list(k[0])}{', then ' + k[1] if k[1] else ''}")
    stop_relay.set()
    sp.stop()
    c.run("down", "--purge", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
