#!/usr/bin/env python3
"""bench/admin_api.py — how long the admin API takes to list many sessions.

Starts SwiftPool (demo settings, its own ports) with room for N connections that have not logged
in yet, opens N client sockets that send nothing (each is a session in /api/v1/sessions, none
needs a backend), then times GET /api/v1/sessions and GET /api/v1/status with curl, --requests times each,
and prints the median and the maximum with the size of the reply.

Run on purpose, never in CI:  bench/admin_api.py [--sessions 1000] [--requests 30]
It uses $SWIFTPOOL_BIN, else .build/release/swiftpool, else .build/debug/swiftpool, and the
cluster of scripts/pg-cluster.sh (started if needed).
"""
from __future__ import annotations

import argparse
import base64
import json
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watchdog import DEMO, HOST, REPO, binary, free_port, wait_port  # noqa: E402

ADMIN = base64.b64encode(b"pcpadmin:pcpadminpass").decode()


def curl_time(port: int, path: str) -> float:
    """Seconds curl measured for one request (a lighter client than urllib)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", "-u", "pcpadmin:pcpadminpass",
                          f"http://{HOST}:{port}{path}"], capture_output=True, text=True, check=True).stdout
    return float(out)


def timed_get(port: int, path: str) -> tuple[float, int]:
    request = urllib.request.Request(f"http://{HOST}:{port}{path}", headers={"Authorization": f"Basic {ADMIN}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as reply:
        body = reply.read()
    elapsed = time.perf_counter() - started
    if path == "/api/v1/sessions":
        count = len(json.loads(body)["sessions"])
        return elapsed, count
    return elapsed, len(body)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=30)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.sessions * 2 + 256)), hard))
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, stdout=subprocess.DEVNULL)

    root = Path(tempfile.mkdtemp(prefix="swiftpool-admin-bench-"))
    for f in DEMO.iterdir():
        if f.is_file():
            shutil.copy2(f, root / f.name)
    (root / "pool_passwd").chmod(0o600)
    port, http = free_port(), free_port()
    settings = {"port": port, "pcp_port": free_port(), "http_port": http, "http_listen_addresses": "'127.0.0.1'",
                "pid_file_name": f"'{root}/swiftpool.pid'", "logdir": f"'{root}'", "socket_dir": f"'{root}'",
                "pcp_socket_dir": f"'{root}'", "num_init_children": 32,
                "listen_backlog_multiplier": a.sessions // 32 + 2, "authentication_timeout": 0}
    with open(root / "pgpool.conf", "a") as conf:
        conf.write("\n" + "\n".join(f"{k} = {v}" for k, v in settings.items()) + "\n")
    log = open(root / "log", "ab")
    proc = subprocess.Popen([str(binary()), "-n", "-f", str(root / "pgpool.conf")], stdout=log, stderr=log)
    clients: list[socket.socket] = []
    try:
        wait_port(port)
        wait_port(http)
        for _ in range(a.sessions):
            clients.append(socket.create_connection((HOST, port)))
        deadline = time.monotonic() + 30
        while (seen := timed_get(http, "/api/v1/sessions")[1]) < a.sessions:
            if time.monotonic() > deadline:
                print(f"only {seen} of {a.sessions} sessions are listed", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"binary {binary()}, {a.sessions} sessions, {a.requests} requests each")
        for path in ("/api/v1/sessions", "/api/v1/status"):
            _, size = timed_get(http, path)
            times = [curl_time(http, path) * 1000 for _ in range(a.requests)]
            unit = "sessions" if path.endswith("sessions") else "bytes"
            print(f"  GET {path:18} median {statistics.median(times):7.2f} ms   max {max(times):7.2f} ms   ({size} {unit}; curl)")
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
