"""A throw-away etcd cluster on loopback for the etcd coordination tests.

    from etcd_cluster import EtcdCluster
    ec = EtcdCluster(tmp_path / "etcd", size=3)
    ec.up()                      # every member started, a leader elected
    ec.endpoints                 # "http://127.0.0.1:P0,http://127.0.0.1:P1,..."
    ec.kill(1); ec.start(1)      # kill -9 one member, start it again (same data)
    ec.down()                    # kill every member

Each member listens on two free ports (client, peer) of 127.0.0.1 and keeps its data under
base_dir/eI.  Uses Debian's etcd-server (etcd 3.4) and etcd-client (etcdctl).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import HOST, free_port


def etcd_binary() -> str | None:
    return shutil.which("etcd")


class EtcdCluster:
    def __init__(self, base_dir: Path, size: int = 3):
        self.dir = Path(base_dir)
        self.size = size
        ports: list[int] = []
        while len(ports) < 2 * size:
            p = free_port()
            if p not in ports:
                ports.append(p)
        self.client_ports = ports[:size]
        self.peer_ports = ports[size:]
        self.procs: list[subprocess.Popen | None] = [None] * size
        self.started_once = [False] * size

    @property
    def endpoints(self) -> str:
        return ",".join(self.url(i) for i in range(self.size))

    def url(self, i: int) -> str:
        return f"http://{HOST}:{self.client_ports[i]}"

    def _cmd(self, i: int) -> list[str]:
        cluster = ",".join(f"e{j}=http://{HOST}:{self.peer_ports[j]}" for j in range(self.size))
        return [etcd_binary() or "etcd", "--name", f"e{i}", "--data-dir", str(self.dir / f"e{i}"),
                "--listen-peer-urls", f"http://{HOST}:{self.peer_ports[i]}",
                "--initial-advertise-peer-urls", f"http://{HOST}:{self.peer_ports[i]}",
                "--listen-client-urls", self.url(i), "--advertise-client-urls", self.url(i),
                "--initial-cluster", cluster, "--initial-cluster-token", f"swp-{os.getpid()}-{self.peer_ports[0]}",
                "--initial-cluster-state", "new", "--log-level", "warn", "--logger", "zap"]

    def start(self, i: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        log = open(self.dir / f"e{i}.log", "ab")
        try:
            self.procs[i] = subprocess.Popen(self._cmd(i), stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self.started_once[i] = True

    def up(self, timeout: float = 30) -> None:
        for i in range(self.size):
            self.start(i)
        self.wait_healthy(timeout)

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self.procs[i] = None

    def down(self) -> None:
        for i in range(self.size):
            self.kill(i)

    def running(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p is not None and p.poll() is None]

    def post(self, i: int, path: str, body: dict, timeout: float = 2, token: str | None = None) -> dict:
        req = urllib.request.Request(self.url(i) + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": token} if token else {})})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def follower(self, timeout: float = 10) -> int:
        """A running member that is not etcd's raft leader (killing it needs no election)."""
        deadline = time.time() + timeout
        while True:
            ids, leader = {}, None
            for i in self.running():
                try:
                    status = self.post(i, "/v3/maintenance/status", {})
                except OSError:
                    continue
                ids[i] = status["header"]["member_id"]
                leader = status.get("leader", leader)
            followers = [i for i, member in ids.items() if leader is not None and member != leader]
            if followers:
                return followers[0]
            assert time.time() < deadline, f"etcd has no leader and follower to tell apart: {ids}, leader {leader}"
            time.sleep(0.2)

    def healthy(self) -> bool:
        """A write goes through (a leader with quorum)."""
        for i in self.running():
            try:
                self.post(i, "/v3/kv/put", {"key": "X19oZWFsdGhfXw==", "value": "MQ=="})
                return True
            except Exception:
                continue
        return False

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                logs = "\n".join((self.dir / f"e{i}.log").read_text(errors="replace")[-1500:]
                                 for i in range(self.size) if (self.dir / f"e{i}.log").exists())
                raise AssertionError(f"etcd did not become healthy within {timeout}s\n{logs}")
            time.sleep(0.2)

    def etcdctl(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
        cmd = ["etcdctl", "--endpoints", self.endpoints, *(["--user", user] if user else []), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              env={**os.environ, "ETCDCTL_API": "3"})
