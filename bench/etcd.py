#!/usr/bin/env python3
"""bench/etcd.py — how fast a fleet coordinated through etcd takes over, what it costs etcd, and
what it costs the query path.

1. Takeover: three SwiftPools over a three-member etcd on loopback (etcd_ttl T); the leader is
   killed with SIGKILL and the time until another member's wd_escalation_command runs is
   measured. Repeated --runs times: median and max (the bound is T + 2 s).
2. Steady state: a fleet of three runs for --steady seconds with etcd_ttl 30 (the default) and
   with T; every member's swiftpool_etcd_requests_total is read before and after: requests per
   minute, per member and for the fleet.
3. Throughput: pgbench -S through one SwiftPool without coordination and through the leader of
   an etcd fleet, interleaved rounds; the ratio on/off.

Run on purpose, never in CI:  bench/etcd.py [--runs 10] [--ttl 5] [--steady 60] [--rounds 3] [--duration 10]
(--runs 0 or --steady 0 leave that part out.)
It uses $SWIFTPOOL_BIN, else .build/release/swiftpool, else .build/debug/swiftpool, Debian's etcd,
and the cluster of scripts/pg-cluster.sh (started if needed).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import watchdog as wdbench  # noqa: E402  (bench/watchdog.py: members, pgbench, ports)

HOST = wdbench.HOST


class Etcd:
    """A three-member etcd on free loopback ports."""

    def __init__(self, root: Path, size: int = 3):
        self.root = root
        self.client = [wdbench.free_port() for _ in range(size)]
        self.peer = [wdbench.free_port() for _ in range(size)]
        self.procs: list[subprocess.Popen] = []

    @property
    def endpoints(self) -> str:
        return ",".join(f"http://{HOST}:{p}" for p in self.client)

    def start(self) -> None:
        cluster = ",".join(f"e{i}=http://{HOST}:{p}" for i, p in enumerate(self.peer))
        for i in range(len(self.client)):
            log = open(self.root / f"etcd{i}.log", "ab")
            self.procs.append(subprocess.Popen(
                ["etcd", "--name", f"e{i}", "--data-dir", str(self.root / f"e{i}"),
                 "--listen-peer-urls", f"http://{HOST}:{self.peer[i]}",
                 "--initial-advertise-peer-urls", f"http://{HOST}:{self.peer[i]}",
                 "--listen-client-urls", f"http://{HOST}:{self.client[i]}",
                 "--advertise-client-urls", f"http://{HOST}:{self.client[i]}",
                 "--initial-cluster", cluster, "--initial-cluster-state", "new", "--log-level", "warn"],
                stdout=log, stderr=log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                req = urllib.request.Request(f"http://{HOST}:{self.client[0]}/v3/kv/put", method="POST",
                                             data=json.dumps({"key": "X19iZW5jaF9f", "value": "MQ=="}).encode())
                urllib.request.urlopen(req, timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("etcd did not start")

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def fleet(root: Path, etcd: Etcd, ttl: int, prefix: str, size: int = 3, http: bool = False) -> list[wdbench.Member]:
    members = []
    for i in range(size):
        s = wdbench.base_settings(root, i, wdbench.free_port())
        s.update({"coordination": "'etcd'", "etcd_endpoints": f"'{etcd.endpoints}'", "etcd_prefix": f"'{prefix}'",
                  "etcd_ttl": str(ttl), "etcd_member_name": f"'m{i}'",
                  "wd_escalation_command": f"'date +%s.%N >> {root}/m{i}/escalated'"})
        if http:
            s.update({"http_port": str(wdbench.free_port()), "http_listen_addresses": f"'{HOST}'"})
        members.append(wdbench.Member(root, i, s, node_id=None))
    return members


def takeover(etcd: Etcd, runs: int, ttl: int) -> list[float]:
    times = []
    for run in range(runs):
        root = Path(tempfile.mkdtemp(prefix="swp-etcd-bench-"))
        members = fleet(root, etcd, ttl, f"/bench/takeover-{os.getpid()}-{run}")
        try:
            for m in members:
                m.start()
            leader = wdbench.wait_for(lambda: next((m for m in members if wdbench.escalations(m)), None), 20)
            if leader is None:
                raise RuntimeError(f"run {run}: nobody escalated; log:\n{(members[0].dir / 'log').read_text()[-2000:]}")
            time.sleep(ttl / 2)  # a renewal or two in steady state
            killed_at = time.time()
            leader.stop(signal.SIGKILL)
            others = [m for m in members if m is not leader]
            taken = wdbench.wait_for(lambda: [t for m in others for t in wdbench.escalations(m)], ttl + 15)
            if not taken:
                raise RuntimeError(f"run {run}: no takeover; log:\n{(others[0].dir / 'log').read_text()[-2000:]}")
            times.append(min(taken) - killed_at)
            print(f"  run {run + 1}: takeover {times[-1]:.2f} s after the kill", flush=True)
        finally:
            for m in members:
                m.stop()
            shutil.rmtree(root, ignore_errors=True)
    return times


def requests_total(member: wdbench.Member) -> float:
    port = [line.split("=")[1].strip() for line in (member.dir / "pgpool.conf").read_text().splitlines()
            if line.startswith("http_port = ")][-1]
    text = urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(r"^swiftpool_etcd_requests_total\{[^}]*\} (\S+)$", text, re.M))


def steady(etcd: Etcd, ttl: int, seconds: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="swp-etcd-bench-"))
    members = fleet(root, etcd, ttl, f"/bench/steady-{os.getpid()}-{ttl}", http=True)
    try:
        for m in members:
            m.start()
        wdbench.wait_for(lambda: any(wdbench.escalations(m) for m in members), 20)
        time.sleep(3)  # past start-up (lease, registration, election, first read)
        before = [requests_total(m) for m in members]
        time.sleep(seconds)
        after = [requests_total(m) for m in members]
        return [(a - b) * 60 / seconds for a, b in zip(after, before)]
    finally:
        for m in members:
            m.stop()
        shutil.rmtree(root, ignore_errors=True)


def throughput(etcd: Etcd, rounds: int, duration: int) -> tuple[list[float], list[float]]:
    root = Path(tempfile.mkdtemp(prefix="swp-etcd-bench-"))
    alone_dir = root / "alone"
    alone_dir.mkdir()
    alone = wdbench.Member(alone_dir, 0, wdbench.base_settings(alone_dir, 0, wdbench.free_port()), node_id=None)
    members = fleet(root, etcd, 10, f"/bench/throughput-{os.getpid()}")
    off, on = [], []
    try:
        alone.start()
        for m in members:
            m.start()
        leader = wdbench.wait_for(lambda: next((m for m in members if wdbench.escalations(m)), None), 20)
        for r in range(rounds):
            off.append(wdbench.pgbench(alone.port, duration))
            on.append(wdbench.pgbench(leader.port, duration))
            print(f"  round {r + 1}: coordination off {off[-1]:.0f} tps, etcd (leader of three) {on[-1]:.0f} tps", flush=True)
    finally:
        alone.stop()
        for m in members:
            m.stop()
        shutil.rmtree(root, ignore_errors=True)
    return off, on


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--ttl", type=int, default=5)
    parser.add_argument("--steady", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if not shutil.which("etcd"):
        print("etcd is not installed (apt-get install etcd-server)")
        return 1
    print(f"binary: {wdbench.binary()}")
    subprocess.run([str(wdbench.REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, capture_output=True)
    root = Path(tempfile.mkdtemp(prefix="swp-etcd-bench-etcd-"))
    etcd = Etcd(root)
    try:
        etcd.start()
        if args.runs > 0:
            print(f"takeover after SIGKILL of the leader (etcd_ttl {args.ttl} s), {args.runs} runs:")
            times = takeover(etcd, args.runs, args.ttl)
            print(f"takeover: median {statistics.median(times):.2f} s, max {max(times):.2f} s, min {min(times):.2f} s "
                  f"(bound ttl + 2 = {args.ttl + 2} s)")
        for ttl in sorted({30, args.ttl}, reverse=True) if args.steady > 0 else []:
            rates = steady(etcd, ttl, args.steady)
            print(f"steady state, etcd_ttl {ttl} s, {args.steady} s: requests/minute per member "
                  f"{', '.join(f'{r:.1f}' for r in rates)}; fleet of three {sum(rates):.1f}")
        if args.skip_throughput:
            return 0
        print(f"pgbench -S -c 16 -j 2, {args.rounds} x {args.duration} s, interleaved:")
        off, on = throughput(etcd, args.rounds, args.duration)
        print(f"throughput: coordination off median {statistics.median(off):.0f} tps, etcd {statistics.median(on):.0f} tps, "
              f"ratio on/off {statistics.median(on) / statistics.median(off):.3f}")
    finally:
        etcd.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
