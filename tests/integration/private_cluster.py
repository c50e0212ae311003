"""A private PostgreSQL cluster for tests that change the topology (failover,
follow-primary, synchronous replication) without disturbing the shared one.

    from private_cluster import PrivateCluster
    pc = PrivateCluster(tmp_path / "pg", base_port=15701, standbys=2)
    pc.up()
    try:
        pc.stop_node(0)                      # crash the primary
        ...
    finally:
        pc.down()                            # down --purge

It drives scripts/pg-cluster.sh with SWIFTPOOL_CLUSTER_DIR, PG_BASE_PORT and
PG_STANDBYS set; node I is ``node{I}`` in ``base_dir`` on port base_port+I.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Callable, TypeVar

from conftest import CLUSTER_SCRIPT, HOST, USERS, psql

T = TypeVar("T")


class PrivateCluster:
    def __init__(self, base_dir: Path, base_port: int, standbys: int = 2):
        self.dir = Path(base_dir)
        self.base_port = base_port
        self.standbys = standbys

    @property
    def nodes(self) -> list[int]:
        return list(range(self.standbys + 1))

    def node_port(self, i: int) -> int:
        return self.base_port + i

    def node_dir(self, i: int) -> Path:
        return self.dir / f"node{i}"

    # scripts/pg-cluster.sh
    def run(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        env = {**os.environ, "SWIFTPOOL_CLUSTER_DIR": str(self.dir),
               "PG_BASE_PORT": str(self.base_port), "PG_STANDBYS": str(self.standbys)}
        proc = subprocess.run([str(CLUSTER_SCRIPT), *args], env=env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"pg-cluster.sh {' '.join(args)} ({self.dir}) failed "
                                 f"({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def up(self) -> None:
        self.run("up")

    def down(self) -> None:
        """Stop every node and delete the cluster directory."""
        self.run("down", "--purge")

    def stop_node(self, i: int, immediate: bool = True) -> None:
        self.run("stop-node", str(i), *(["--immediate"] if immediate else []))

    def start_node(self, i: int) -> None:
        self.run("start-node", str(i))

    # SQL
    def sql(self, i: int, text: str, user: str = "postgres", db: str = "postgres") -> str:
        """Run ``text`` on node i; stdout (unaligned tuples) stripped.  Raises
        AssertionError when psql fails."""
        return psql(self.node_port(i), user, USERS[user], db, text, check=True).stdout.strip()

    def role(self, i: int) -> str | None:
        """'primary', 'standby', or None when node i does not answer."""
        r = psql(self.node_port(i), "postgres", USERS["postgres"], "postgres",
                 "SELECT pg_is_in_recovery()", timeout=15)
        if r.returncode != 0:
            return None
        return "standby" if r.stdout.strip() == "t" else "primary"

    def upstream_port(self, i: int) -> int | None:
        """Port node i streams WAL from (pg_stat_wal_receiver, status
        'streaming'), or None."""
        r = psql(self.node_port(i), "postgres", USERS["postgres"], "postgres",
                 "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'",
                 timeout=15)
        out = r.stdout.strip()
        return int(out) if r.returncode == 0 and out.isdigit() else None

    def primary_node(self) -> int | None:
        return next((i for i in self.nodes if self.role(i) == "primary"), None)

    @staticmethod
    def wait(predicate: Callable[[], T], timeout: float = 30, interval: float = 0.2,
             what: str = "condition") -> T:
        """Poll ``predicate`` until it returns a truthy value (returned);
        AssertionError after ``timeout`` seconds.  Exceptions count as false."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
                if value:
                    return value
            except (AssertionError, subprocess.SubprocessError):
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} not reached within {timeout}s")
            time.sleep(interval)

    def enable_sync_replication(self, standby_name: str, timeout: float = 30) -> None:
        """Make ``standby_name`` (its application_name, e.g. 'node1') the
        synchronous standby of the current primary and wait until
        pg_stat_replication reports it as 'sync'.  Also sets
        synchronous_commit = on: the cluster runs with it off, and then
        commits would not wait for the standby."""
        if not standby_name.replace("_", "").isalnum():
            raise ValueError(f"unexpected standby name {standby_name!r}")
        p = self.primary_node()
        if p is None:
            raise AssertionError("no primary")
        self.sql(p, f"ALTER SYSTEM SET synchronous_standby_names = '\"{standby_name}\"'")
        self.sql(p, "ALTER SYSTEM SET synchronous_commit = on")
        self.sql(p, "SELECT pg_reload_conf()")
        self.wait(lambda: self.sql(p, "SELECT sync_state FROM pg_stat_replication "
                                      f"WHERE application_name = '{standby_name}'") == "sync",
                  timeout, what=f"{standby_name} as synchronous standby")

    # scripts/failover/
    def failover_env(self) -> dict[str, str]:
        """Environment variables scripts/failover/*.sh need for this cluster
        (add them to os.environ or a subprocess env): the superuser password
        and the server log files pg-cluster.sh uses."""
        return {"PGPASSWORD": USERS["postgres"],
                "FOLLOW_LOG_FILE": str(self.dir / "log" / "node%d.log")}

    def placeholders(self, node: int, new_main: int, old_primary: int) -> list[str]:
        """Arguments %d %h %p %D %m %H %M %P %r %R %N %S for the failover
        scripts, as SwiftPool fills them in for this cluster."""
        return [str(node), HOST, str(self.node_port(node)), str(self.node_dir(node)),
                str(new_main), HOST, str(old_primary), str(old_primary),
                str(self.node_port(new_main)), str(self.node_dir(new_main)),
                HOST, str(self.node_port(old_primary))]
