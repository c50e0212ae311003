#!/usr/bin/env python3
"""bench/watchdog.py — what the watchdog costs and how fast it takes over.

1. Takeover: a pair on loopback (wd_heartbeat_keepalive 1, wd_heartbeat_deadtime D,
   enable_consensus_with_half_votes on); the leader is killed with SIGKILL and the time until the
   survivor's wd_escalation_command runs is measured. Repeated --runs times: median and max.
2. Throughput: pgbench -S through one SwiftPool with the watchdog off and through the leader of a
   running pair, interleaved rounds in one run; the ratio on/off.

Run on purpose, never in CI:  bench/watchdog.py [--runs 10] [--deadtime 3] [--rounds 3] [--duration 10]
It uses $SWIFTPOOL_BIN, else .build/release/swiftpool, else .build/debug/swiftpool, and the
cluster of scripts/pg-cluster.sh (started if needed; pgbench tables from bench/run.sh or created).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "demo"
HOST = "127.0.0.1"
APP_USER, APP_PASSWORD, DB = "app_readwrite", "readwrite456", "swiftpool_test"


def binary() -> Path:
    if os.environ.get("SWIFTPOOL_BIN"):
        return Path(os.environ["SWIFTPOOL_BIN"])
    release = REPO / ".build" / "release" / "swiftpool"
    return release if release.exists() else REPO / ".build" / "debug" / "swiftpool"


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.3).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def start_from_demo(root: Path, settings: dict) -> tuple[subprocess.Popen, int]:
    """Starts SwiftPool from a copy of config/demo in `root`, with its own port, files under
    `root` and `settings` appended; returns the process and its port once it listens."""
    for f in DEMO.iterdir():
        if f.is_file():
            shutil.copy2(f, root / f.name)
    (root / "pool_passwd").chmod(0o600)
    port = free_port()
    own = {"port": port, "pcp_port": free_port(), "http_port": 0, "pid_file_name": f"'{root}/swiftpool.pid'",
           "logdir": f"'{root}'", "socket_dir": f"'{root}'", "pcp_socket_dir": f"'{root}'"}
    with open(root / "pgpool.conf", "a") as conf:
        conf.write("\n" + "\n".join(f"{k} = {v}" for k, v in {**own, **settings}.items()) + "\n")
    log = open(root / "log", "ab")
    proc = subprocess.Popen([str(binary()), "-n", "-f", str(root / "pgpool.conf")], stdout=log, stderr=log)
    wait_port(port)
    return proc, port


class Member:
    def __init__(self, root: Path, index: int, settings: dict[str, str], node_id: int | None):
        self.dir = root / f"m{index}"
        self.dir.mkdir(parents=True)
        for f in DEMO.iterdir():
            if f.is_file():
                shutil.copy2(f, self.dir / f.name)
        os.chmod(self.dir / "pool_passwd", 0o600)
        self.port = int(settings["port"])
        lines = [f"{k} = {v}" for k, v in settings.items()]
        with open(self.dir / "pgpool.conf", "a") as conf:
            conf.write("\n" + "\n".join(lines) + "\n")
        if node_id is not None:
            (self.dir / "pgpool_node_id").write_text(f"{node_id}\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.dir / "log", "ab")
        self.proc = subprocess.Popen([str(binary()), "-n", "-f", str(self.dir / "pgpool.conf")], stdout=log, stderr=log)
        wait_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def base_settings(root: Path, i: int, port: int) -> dict[str, str]:
    d = root / f"m{i}"
    return {"port": str(port), "pcp_port": str(free_port()), "http_port": "0", "listen_addresses": "'127.0.0.1'",
            "pid_file_name": f"'{d}/swiftpool.pid'", "logdir": f"'{d}'", "socket_dir": f"'{d}'",
            "pcp_socket_dir": f"'{d}'", "num_init_children": "64", "connection_cache": "on"}


def pair(root: Path, deadtime: int) -> list[Member]:
    ports = [free_port(), free_port()]
    wd = [free_port(), free_port()]
    hb = [free_port(udp=True), free_port(udp=True)]
    members = []
    for i in range(2):
        s = base_settings(root, i, ports[i])
        s.update({"use_watchdog": "on", "wd_priority": str(2 - i), "wd_authkey": "'bench'",
                  "wd_heartbeat_keepalive": "1", "wd_heartbeat_deadtime": str(deadtime),
                  "enable_consensus_with_half_votes": "on",
                  "wd_escalation_command": f"'date +%s.%N >> {root}/m{i}/escalated'"})
        for j in range(2):
            s.update({f"hostname{j}": f"'{HOST}'", f"wd_port{j}": str(wd[j]), f"pgpool_port{j}": str(ports[j]),
                      f"heartbeat_hostname{j}": f"'{HOST}'", f"heartbeat_port{j}": str(hb[j])})
        members.append(Member(root, i, s, node_id=i))
    return members


def escalations(member: Member) -> list[float]:
    path = member.dir / "escalated"
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def wait_for(predicate, timeout: float, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def takeover(runs: int, deadtime: int) -> list[float]:
    times = []
    for run in range(runs):
        root = Path(tempfile.mkdtemp(prefix="swp-wd-bench-"))
        members = pair(root, deadtime)
        try:
            for m in members:
                m.start()
            if not wait_for(lambda: escalations(members[0]), 15):
                raise RuntimeError(f"run {run}: member 0 never escalated; log:\n{(members[0].dir / 'log').read_text()[-2000:]}")
            time.sleep(1.5)  # let heartbeats settle
            killed_at = time.time()
            members[0].stop(signal.SIGKILL)
            taken = wait_for(lambda: escalations(members[1]), deadtime + 15)
            if not taken:
                raise RuntimeError(f"run {run}: no takeover; log:\n{(members[1].dir / 'log').read_text()[-2000:]}")
            times.append(taken[0] - killed_at)
            print(f"  run {run + 1}: takeover {times[-1]:.2f} s after the kill", flush=True)
        finally:
            for m in members:
                m.stop()
            shutil.rmtree(root, ignore_errors=True)
    return times


def pgbench(port: int, duration: int) -> float:
    env = {**os.environ, "PGPASSWORD": APP_PASSWORD}
    out = subprocess.run(["pgbench", "-h", HOST, "-p", str(port), "-U", APP_USER, "-n", "-S", "-c", "16", "-j", "2",
                          "-T", str(duration), DB], env=env, capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"tps = ([\d.]+)", out.stdout)
    if not match:
        raise RuntimeError(out.stdout + out.stderr)
    return float(match.group(1))


def throughput(rounds: int, duration: int) -> tuple[list[float], list[float]]:
    root = Path(tempfile.mkdtemp(prefix="swp-wd-bench-"))
    alone_dir = root / "alone"
    alone_dir.mkdir()
    alone = Member(alone_dir, 0, base_settings(alone_dir, 0, free_port()), node_id=None)
    members = pair(root, 5)
    off, on = [], []
    try:
        alone.start()
        for m in members:
            m.start()
        wait_for(lambda: escalations(members[0]), 15)
        for r in range(rounds):
            off.append(pgbench(alone.port, duration))
            on.append(pgbench(members[0].port, duration))
            print(f"  round {r + 1}: watchdog off {off[-1]:.0f} tps, on (leader of a pair) {on[-1]:.0f} tps", flush=True)
    finally:
        alone.stop()
        for m in members:
            m.stop()
        shutil.rmtree(root, ignore_errors=True)
    return off, on


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--deadtime", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    print(f"binary: {binary()}")
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, capture_output=True)
    print(f"takeover after SIGKILL of the leader (keepalive 1 s, deadtime {args.deadtime} s), {args.runs} runs:")
    times = takeover(args.runs, args.deadtime)
    print(f"takeover: median {statistics.median(times):.2f} s, max {max(times):.2f} s, min {min(times):.2f} s "
          f"(bound deadtime + 2 = {args.deadtime + 2} s)")
    if args.skip_throughput:
        return 0
    env = {**os.environ, "PGPASSWORD": APP_PASSWORD}
    check = subprocess.run(["psql", "-h", HOST, "-p", "15501", "-U", APP_USER, "-d", DB, "-Atc",
                            "SELECT count(*) FROM pgbench_accounts"], env=env, capture_output=True, text=True)
    if check.returncode != 0:
        subprocess.run(["pgbench", "-h", HOST, "-p", "15501", "-U", APP_USER, "-i", "-s", "10", DB], env=env, check=True,
                       capture_output=True)
        time.sleep(3)
    print(f"pgbench -S -c 16 -j 2, {args.rounds} x {args.duration} s, interleaved:")
    off, on = throughput(args.rounds, args.duration)
    print(f"throughput: watchdog off median {statistics.median(off):.0f} tps, on {statistics.median(on):.0f} tps, "
          f"ratio on/off {statistics.median(on) / statistics.median(off):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
