#!/usr/bin/env python3
"""How long /metrics takes to render with 4 nodes and 1,000 client connections.

Starts a release SwiftPool from config/demo (num_init_children 50, client_wait_timeout 600 s), opens
1,000 client connections (50 logged in and idle, 950 waiting for a slot after their startup
packet), then times scrapes of /metrics and /api/v1/sessions. Run on purpose, not in CI:

    scripts/build-release.sh && bench/scrape.py
"""
from __future__ import annotations

import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIN = os.environ.get("SWIFTPOOL_BIN", str(REPO / ".build/release/swiftpool"))
CLIENTS, SLOTS, SCRAPES = 1000, 50, 50


def startup_packet(user: str, database: str) -> bytes:
    body = struct.pack("!i", 196608) + b"".join(k.encode() + b"\0" + v.encode() + b"\0"
                                                for k, v in (("user", user), ("database", database))) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def main() -> int:
    subprocess.run([str(REPO / "scripts/pg-cluster.sh"), "up"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="swiftpool-scrape-"))
    shutil.copytree(REPO / "config/demo", work / "conf")
    port, http = free_port(), free_port()
    with open(work / "conf/pgpool.conf", "a") as f:
        f.write(f"\nport = {port}\nhttp_port = {http}\npcp_port = {free_port()}\nnum_init_children = {SLOTS}\n"
                f"client_wait_timeout = 600\nauthentication_timeout = 600\npid_file_name = '{work}/sp.pid'\n"
                f"logdir = '{work}'\nsocket_dir = '{work}'\npcp_socket_dir = '{work}'\nenable_pool_hba = off\n")
    proc = subprocess.Popen([BIN, "-f", str(work / "conf/pgpool.conf"), "-n"], stdout=open(work / "log", "w"),
                            stderr=subprocess.STDOUT)
    try:
        time.sleep(2)
        import psycopg
        logged_in = [psycopg.connect(host="127.0.0.1", port=port, user="app_readwrite", password="readwrite456",
                                     dbname="swiftpool_test") for _ in range(SLOTS)]
        waiting = []
        for _ in range(CLIENTS - SLOTS):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(startup_packet("app_readwrite", "swiftpool_test"))
            waiting.append(s)
        time.sleep(2)

        def timed(path: str) -> list[float]:
            times = []
            for _ in range(SCRAPES):
                request = urllib.request.Request(f"http://127.0.0.1:{http}{path}")
                request.add_header("Authorization", "Basic cGNwYWRtaW46cGNwYWRtaW5wYXNz")
                started = time.perf_counter()
                body = urllib.request.urlopen(request, timeout=10).read()
                times.append((time.perf_counter() - started) * 1000)
            return times, len(body)

        metrics, size = timed("/metrics")
        sessions, session_bytes = timed("/api/v1/sessions")
        text = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics").read().decode()
        states = [l for l in text.splitlines() if l.startswith("swiftpool_client_connections{")]
        print(f"clients: {CLIENTS} ({SLOTS} logged in, {CLIENTS - SLOTS} waiting); {states}")
        print(f"/metrics: {size} bytes; median {statistics.median(metrics):.2f} ms, p90 "
              f"{sorted(metrics)[int(SCRAPES * 0.9)]:.2f} ms over {SCRAPES} scrapes (curl-like client, loopback)")
        print(f"/api/v1/sessions: {session_bytes} bytes; median {statistics.median(sessions):.2f} ms")
        for c in logged_in:
            c.close()
        for s in waiting:
            s.close()
    finally:
        proc.terminate()
        proc.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
