#!/usr/bin/env python3
"""Reproduction for the soak's hung asyncpg COPY session around a standby crash.

asyncpg clients loop over the soak's COPY unit (copy_records_to_table in a transaction, then
copy_from_query) through SwiftPool while a standby is killed with kill -9 and restarted every
few seconds.  A unit that takes over 20 s is reported with SwiftPool's view of its session, and
SwiftPool's log (log_min_messages = debug1) is kept.

    chaos/repro_copy_hang.py [--clients 4] [--rounds 10]

Uses the soak's private cluster (/tmp/swiftpool-chaos, ports 16601-16604, SwiftPool 16432).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import asyncpg  # noqa: E402

import soak  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mode", choices=["copy", "copy_in", "copy_out", "select"], default="copy")
    a = ap.parse_args()
    c = soak.Cluster(Path("/tmp/swiftpool-chaos"), 16601, 3)
    c.run("down", "--purge", check=False)
    c.run("up")
    c.pg_bin = next(line.split("'")[1] for line in c.run("env").stdout.splitlines() if "PG_BIN=" in line)
    c.sql(0, "CREATE TABLE chaos_copy (a int, b text)", db=soak.DB)
    c.sql(0, "GRANT ALL ON chaos_copy TO app_readwrite", db=soak.DB)
    work = Path("/tmp/swiftpool-chaos-repro-copy")
    sp = soak.SwiftPool(Path(soak.REPO / ".build" / "release" / "swiftpool"), work, c, 16432, 16719, 16898)
    sp.write_config(10)
    with open(work / "pgpool.conf", "a") as f:
        f.write("log_min_messages = debug1\n")
    sp.start()
    stop = threading.Event()
    started: dict[int, float] = {}
    counts = [0, 0]

    async def client(k: int) -> None:
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(host=soak.HOST, port=sp.port, user=soak.APP_USER,
                                             password=soak.USERS[soak.APP_USER], database=soak.DB,
                                             server_settings={"application_name": f"repro_copy_{k}"})
                while not stop.is_set():
                    started[k] = time.monotonic()
                    if a.mode in ("copy", "copy_in"):
                        async with conn.transaction():
                            await conn.copy_records_to_table(
                                "chaos_copy", records=[(i, f"a{i}") for i in range(random.randint(50, 300))],
                                columns=["a", "b"])
                    if a.mode in ("copy", "copy_out"):
                        await conn.copy_from_query("SELECT g FROM generate_series(1, 2000) g", output=io.BytesIO())
                    if a.mode == "select":
                        await conn.fetch("SELECT g FROM generate_series(1, 2000) g")
                    started.pop(k, None)
                    counts[0] += 1
            except Exception as e:
                started.pop(k, None)
                counts[1] += 1
                print(f"client {k}: {type(e).__name__}: {str(e)[:120]}", flush=True)
                await asyncio.sleep(0.2)

    async def run_clients() -> None:
        await asyncio.gather(*(client(k) for k in range(a.clients)))
    threading.Thread(target=lambda: asyncio.run(run_clients()), daemon=True).start()
    hung = None
    for r in range(a.rounds):
        time.sleep(4)
        standby = random.choice([1, 2, 3])
        print(f"round {r}: kill -9 node{standby} ({c.kill9(standby)} processes)", flush=True)
        time.sleep(3)
        c.start_node(standby)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(1)
            late = {k: time.monotonic() - t for k, t in list(started.items()) if time.monotonic() - t > 20}
            if late:
                hung = late
                break
        if hung:
            break
    print(f"units done {counts[0]}, errors {counts[1]}")
    if hung:
        print(f"HUNG: client -> seconds in its unit: {hung}")
        print("sessions not idle:", [s for s in sp.api("GET", "/api/v1/sessions")[1]["sessions"]
                                     if s["state"] != "idle"])
        print(f"SwiftPool log: {sp.log_path}")
    else:
        print("no hang")
    stop.set()
    sp.stop()
    c.run("down", "--purge", check=False)
    return 1 if hung else 0


if __name__ == "__main__":
    sys.exit(main())
