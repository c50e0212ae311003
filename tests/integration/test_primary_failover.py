"""Primary failover with the sample scripts, on a private cluster (the shared one is left
alone): the primary is killed under a write load, a standby is promoted, the others follow it,
writes succeed again, and no commit acknowledged before the kill is lost."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psycopg

from conftest import REPO_ROOT
from private_cluster import PrivateCluster
from test_failover import wait_for

SCRIPTS = REPO_ROOT / "scripts" / "failover"
PLACEHOLDERS = "%d %h %p %D %m %H %M %P %r %R %N %S"


def test_primary_killed_under_write_load(swiftpool, tmp_path, monkeypatch):
    # The servers run as the OS user postgres, which cannot enter pytest's private tmp_path.
    pc = PrivateCluster(Path(f"/tmp/swiftpool-failover-{os.getpid()}"), base_port=15711, standbys=3)
    pc.up()
    try:
        pc.enable_sync_replication("node1")
        for key, value in pc.failover_env().items():
            monkeypatch.setenv(key, value)
        nodes = {}
        for i in pc.nodes:
            nodes.update({f"backend_hostname{i}": "127.0.0.1", f"backend_port{i}": pc.node_port(i),
                          f"backend_data_directory{i}": str(pc.node_dir(i)), f"backend_application_name{i}": f"node{i}"})
        proxy = swiftpool({
            **nodes, "load_balance_mode": True, "sr_check_period": 1, "auto_failback": True,
            "auto_failback_interval": 1, "health_check_period": 1, "health_check_timeout": 3,
            "health_check_max_retries": 1, "health_check_retry_delay": 1, "connect_timeout": 1000,
            "health_check_user": "repmgr", "health_check_password": "", "search_primary_node_timeout": 60,
            "failover_command": f"{SCRIPTS}/failover.sh {PLACEHOLDERS}",
            "follow_primary_command": f"{SCRIPTS}/follow_primary.sh {PLACEHOLDERS}",
            "failover_command_timeout": 120})
        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS acked")
            conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")

        acknowledged: list[int] = []
        first_write_after: list[float] = []
        killed_at: list[float] = []
        stop = threading.Event()

        def writer():
            next_id = 0
            while not stop.is_set():
                try:
                    with psycopg.connect(proxy.dsn(), autocommit=True, connect_timeout=5) as conn:
                        while not stop.is_set():
                            next_id += 1
                            started = time.monotonic()
                            conn.execute("INSERT INTO acked VALUES (%s)", (next_id,))
                            acknowledged.append(next_id)
                            if killed_at and started > killed_at[0] and not first_write_after:
                                first_write_after.append(time.monotonic())
                except psycopg.Error:
                    time.sleep(0.1)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            wait_for(lambda: len(acknowledged) > 50, 20, "no writes through SwiftPool")
            kill_started = time.monotonic()
            pc.stop_node(0, immediate=True)
            killed_at.append(time.monotonic())
            acked_before_kill = list(acknowledged)
            wait_for(lambda: first_write_after, 90, lambda: proxy.log()[-4000:], interval=0.2)
            # The primary dies somewhere inside the stop command; the first write that started
            # after the command returned bounds the outage from above.
            print(f"first successful write {first_write_after[0] - kill_started:.2f} s after the kill command started "
                  f"(the command took {killed_at[0] - kill_started:.2f} s)")
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive(), "the writer hung"

        assert pc.role(1) == "primary"
        wait_for(lambda: "primary node is 1" in proxy.log(), 60, lambda: proxy.log()[-4000:])
        for standby in (2, 3):
            wait_for(lambda: pc.upstream_port(standby) == pc.node_port(1), 60,
                     lambda: f"node{standby} does not follow node1\n" + proxy.log()[-4000:])
        rows = {int(r) for r in pc.sql(1, "SELECT id FROM acked", db="swiftpool_test").split()}
        missing = [i for i in acked_before_kill if i not in rows]
        print(f"{len(acked_before_kill)} commits acknowledged before the kill, {len(missing)} missing on the new primary")
        assert not missing
        assert all(i in rows for i in acknowledged), "a commit acknowledged after the failover is missing"
        # The followers come back by auto_failback and take reads again.
        wait_for(lambda: "backend node 2 is attached" in proxy.log() and "backend node 3 is attached" in proxy.log(),
                 60, lambda: proxy.log()[-4000:])
        assert proxy.psql("SELECT count(*) > 0 FROM acked", check=True).stdout.strip() == "t"
    finally:
        pc.down()
