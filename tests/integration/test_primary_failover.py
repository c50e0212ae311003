"""Primary failover with the sample scripts, on a private cluster (the shared one is left
alone): the primary is killed under a write load, a standby is promoted, the others follow it,
writes succeed again, and no commit acknowledged before the kill is lost."""
from __future__ import annotations

import asyncio
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import psycopg
import pytest
import requests

from conftest import REPO_ROOT, TEST_DB, USERS
from private_cluster import PrivateCluster
from test_failover import wait_for

SCRIPTS = REPO_ROOT / "scripts" / "failover"
PLACEHOLDERS = "%d %h %p %D %m %H %M %P %r %R %N %S"


def start_proxy(swiftpool, pc: PrivateCluster, monkeypatch, **settings):
    """SwiftPool in front of `pc` with the sample failover scripts, quick checks and auto_failback
    (and `settings`)."""
    for key, value in pc.failover_env().items():
        monkeypatch.setenv(key, value)
    nodes = {}
    for i in pc.nodes:
        nodes.update({f"backend_hostname{i}": "127.0.0.1", f"backend_port{i}": pc.node_port(i),
                      f"backend_data_directory{i}": str(pc.node_dir(i)), f"backend_application_name{i}": f"node{i}"})
    return swiftpool({
        **nodes, "load_balance_mode": True, "sr_check_period": 1, "auto_failback": True,
        "auto_failback_interval": 1, "health_check_period": 1, "health_check_timeout": 3,
        "health_check_max_retries": 1, "health_check_retry_delay": 1, "connect_timeout": 1000,
        "health_check_user": "repmgr", "health_check_password": "", "search_primary_node_timeout": 60,
        "failover_command": f"{SCRIPTS}/failover.sh {PLACEHOLDERS}",
        "follow_primary_command": f"{SCRIPTS}/follow_primary.sh {PLACEHOLDERS}",
        "failover_command_timeout": 120, **settings})


@contextmanager
def cluster_behind_swiftpool(swiftpool, monkeypatch, name: str, base_port: int, **settings):
    """A private cluster of a primary and 3 standbys (node1 synchronous), SwiftPool in front of
    it (with `settings`) and an empty table `acked`; the cluster is removed afterwards."""
    # The servers run as the OS user postgres, which cannot enter pytest's private tmp_path.
    pc = PrivateCluster(Path(f"/tmp/swiftpool-{name}-{os.getpid()}"), base_port=base_port, standbys=3)
    pc.up()
    try:
        pc.enable_sync_replication("node1")
        proxy = start_proxy(swiftpool, pc, monkeypatch, **settings)
        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS acked")
            conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")
        yield pc, proxy
    finally:
        pc.down()


def test_primary_killed_under_write_load(swiftpool, monkeypatch):
    with cluster_behind_swiftpool(swiftpool, monkeypatch, "failover", 15711) as (pc, proxy):
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


def test_switchover_through_the_api_under_write_load(swiftpool, monkeypatch):
    """POST /api/v1/nodes/1/promote?switchover=true with writers running: node1 becomes the
    primary, the old primary and the other standbys follow it, no acknowledged commit is lost,
    every failed write carries a SQLSTATE and none is a write sent to a standby meanwhile, and
    the standbys need no pg_rewind (the old primary is stopped cleanly before the promotion)."""
    with cluster_behind_swiftpool(swiftpool, monkeypatch, "switchover", 15721) as (pc, proxy):
        acknowledged: list[int] = []
        successes: list[float] = []
        failures: list[tuple[float, str | None, str]] = []
        stop = threading.Event()

        def writer(first_id: int):
            next_id = first_id
            while not stop.is_set():
                try:
                    with psycopg.connect(proxy.dsn(), autocommit=True, connect_timeout=5) as conn:
                        while not stop.is_set():
                            next_id += 1
                            conn.execute("INSERT INTO acked VALUES (%s)", (next_id,))
                            acknowledged.append(next_id)
                            successes.append(time.monotonic())
                except psycopg.Error as error:
                    failures.append((time.monotonic(), error.sqlstate, str(error).strip()[:200]))
                    time.sleep(0.05)

        threads = [threading.Thread(target=writer, args=(n * 10_000_000,)) for n in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: len(acknowledged) > 200, 20, "no writes through SwiftPool")
            started = time.monotonic()
            response = requests.post(f"http://127.0.0.1:{proxy.http_port}/api/v1/nodes/1/promote?switchover=true",
                                     auth=("pcpadmin", "pcpadminpass"), headers={"X-SwiftPool-Client": "tests"},
                                     timeout=180)
            returned = time.monotonic()
            assert response.status_code == 200, response.text
            wait_for(lambda: any(t > returned for t in successes), 30, lambda: proxy.log()[-4000:], interval=0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert not any(thread.is_alive() for thread in threads), "a writer hung"

        during = [t for t in successes if t >= started]
        gaps = [b - a for a, b in zip([started] + during, during)]
        outage = max(gaps, default=returned - started)
        print(f"switchover: the API answered after {returned - started:.2f} s; longest stretch without a "
              f"successful write {outage:.2f} s; {len(failures)} failed writes "
              f"({sorted({f[1] or 'none' for f in failures})})")
        assert [f for f in failures if f[1] is None] == [], "a failed write carried no SQLSTATE"
        # Sessions on the old primary end (57P01); logins during the switchover wait for the new
        # primary instead of writing to a standby (25006).
        assert [f for f in failures if f[1] == "25006"] == [], failures
        assert response.json()["node"]["role"] == "primary"
        assert pc.role(1) == "primary"
        for node in (0, 2, 3):
            wait_for(lambda: pc.upstream_port(node) == pc.node_port(1), 60,
                     lambda: f"node{node} does not follow node1\n" + proxy.log()[-4000:])
        rows = {int(r) for r in pc.sql(1, "SELECT id FROM acked", db="swiftpool_test").split()}
        missing = [i for i in acknowledged if i not in rows]
        assert not missing, f"{len(missing)} acknowledged commits missing on the new primary"
        # The old primary was stopped cleanly before the promotion, so nothing diverged: the
        # standbys only change their primary_conninfo.
        log = proxy.log()
        assert "old primary node 0 via local (switchover): shutdown checkpoint at" in log
        assert "has received the old primary's WAL up to its shutdown checkpoint" in log
        for node in (2, 3):
            assert f"running pg_rewind on node {node}" not in log, f"node{node} needed pg_rewind"
        # The old primary and the followers come back by auto_failback and take reads again.
        for node in (0, 2, 3):
            wait_for(lambda: f"backend node {node} is attached" in proxy.log(), 60, lambda: proxy.log()[-4000:])
        assert proxy.psql("SELECT count(*) > 0 FROM acked", check=True).stdout.strip() == "t"


def test_transaction_mode_clients_between_transactions_follow_a_switchover(swiftpool, monkeypatch):
    """Transaction mode: clients that hold no backend connection when the primary moves stay
    connected and go on with the new primary, their settings and prepared statements intact; a
    client inside a transaction then ends with 57P01."""
    with cluster_behind_swiftpool(swiftpool, monkeypatch, "txfollow", 15731, pool_mode="transaction",
                                  transaction_pool_size=4) as (pc, proxy):
        idle = psycopg.connect(proxy.dsn(), autocommit=True)
        idle.execute("SET statement_timeout = '5min'")
        insert = "INSERT INTO acked VALUES (%s) RETURNING inet_server_port()"
        assert idle.execute(insert, (1,), prepare=True).fetchone()[0] == pc.node_port(0)
        busy = psycopg.connect(proxy.dsn())
        busy.execute("INSERT INTO acked VALUES (2)")  # a transaction left open

        async def asyncpg_client():
            conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                         password=USERS["app_readwrite"], database=TEST_DB)
            assert await conn.fetchval("SELECT $1::int + 1", 1) == 2
            return conn
        loop = asyncio.new_event_loop()
        cached = loop.run_until_complete(asyncpg_client())
        try:
            response = requests.post(f"http://127.0.0.1:{proxy.http_port}/api/v1/nodes/1/promote?switchover=true",
                                     auth=("pcpadmin", "pcpadminpass"), headers={"X-SwiftPool-Client": "tests"},
                                     timeout=180)
            assert response.status_code == 200, response.text
            # Same client connections, now on node 1.
            assert idle.execute(insert, (3,), prepare=True).fetchone()[0] == pc.node_port(1), proxy.log()[-3000:]
            assert idle.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
            assert idle.execute("SHOW statement_timeout").fetchone()[0] == "5min", "the client's SET follows it"
            assert loop.run_until_complete(cached.fetchval("SELECT $1::int + 1", 41)) == 42, \
                "asyncpg's cached statement is prepared again on the new primary"
            with pytest.raises(psycopg.OperationalError) as ended:
                busy.execute("COMMIT")
            assert ended.value.sqlstate == "57P01", str(ended.value)
            followed = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text
            assert "swiftpool_transaction_pool_failovers_followed_total 2" in followed.splitlines()
            rows = {int(r) for r in pc.sql(1, "SELECT id FROM acked", db="swiftpool_test").split()}
            assert rows == {1, 3}, "the open transaction's insert was not committed"
        finally:
            loop.run_until_complete(cached.close(timeout=5))
            loop.close()
            idle.close()
            busy.close()


def test_transaction_mode_statement_waiting_for_a_connection_follows_a_switchover(swiftpool, monkeypatch):
    """Transaction mode: a statement still waiting for a connection to the primary when the
    primary moves (nothing of it was sent) runs on the new primary instead of ending its
    session; the client whose transaction held the connection ends with 57P01."""
    with cluster_behind_swiftpool(swiftpool, monkeypatch, "txwait", 15761, pool_mode="transaction",
                                  transaction_pool_size=1, transaction_pool_timeout=120) as (pc, proxy):
        busy = psycopg.connect(proxy.dsn())
        waiting = psycopg.connect(proxy.dsn(), autocommit=True)
        busy.execute("INSERT INTO acked VALUES (1)")  # holds the only connection to the primary
        outcome: dict = {}

        def insert() -> None:
            try:
                outcome["port"] = waiting.execute("INSERT INTO acked VALUES (2) RETURNING inet_server_port()").fetchone()[0]
            except Exception as e:  # reported below
                outcome["error"] = f"{type(e).__name__}: {e}"

        thread = threading.Thread(target=insert)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while sum(n["waiting"] for n in requests.get(f"http://127.0.0.1:{proxy.http_port}/api/v1/pool",
                                                         auth=("pcpadmin", "pcpadminpass"), timeout=10).json()["nodes"]) < 1:
                assert time.monotonic() < deadline, "the statement never waited for the connection"
                time.sleep(0.05)
            response = requests.post(f"http://127.0.0.1:{proxy.http_port}/api/v1/nodes/1/promote?switchover=true",
                                     auth=("pcpadmin", "pcpadminpass"), headers={"X-SwiftPool-Client": "tests"},
                                     timeout=180)
            assert response.status_code == 200, response.text
            thread.join(60)
            assert outcome == {"port": pc.node_port(1)}, (outcome, proxy.log()[-3000:])
            with pytest.raises(psycopg.OperationalError) as ended:
                busy.execute("COMMIT")
            assert ended.value.sqlstate == "57P01", str(ended.value)
            rows = {int(r) for r in pc.sql(1, "SELECT id FROM acked", db="swiftpool_test").split()}
            assert rows == {2}, "the open transaction's insert was not committed"
        finally:
            thread.join(5)
            waiting.close()
            busy.close()


def test_transaction_mode_statement_that_finds_its_primary_dead_runs_on_the_new_one(swiftpool, monkeypatch):
    """Transaction mode: a statement that needs a new connection to a primary that was just
    killed (no health check runs here, so nothing noticed yet) is not answered with an error:
    its failed connect reports the node, and it waits for that failover and runs on the promoted
    standby."""
    with cluster_behind_swiftpool(swiftpool, monkeypatch, "txunit", 15741, pool_mode="transaction",
                                  transaction_pool_size=4, health_check_period=0) as (pc, proxy):
        conn = psycopg.connect(proxy.dsn(), autocommit=True)
        insert = "INSERT INTO acked VALUES (%s) RETURNING inet_server_port()"
        try:
            assert conn.execute(insert, (1,)).fetchone()[0] == pc.node_port(0)
            pc.stop_node(0, immediate=True)
            time.sleep(1)  # the killed server's connections close; the pool drops them
            assert conn.execute(insert, (2,)).fetchone()[0] == pc.node_port(1), proxy.log()[-3000:]
            assert "primary node is 1" in proxy.log()
            followed = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text
            assert "swiftpool_transaction_pool_failovers_followed_total 1" in followed.splitlines()
            rows = {int(r) for r in pc.sql(1, "SELECT id FROM acked", db="swiftpool_test").split()}
            assert rows == {1, 2}
        finally:
            conn.close()


def test_transaction_mode_login_that_finds_its_primary_dead_waits_for_the_failover(swiftpool, monkeypatch):
    """Transaction mode: a login whose connection to a primary killed a moment ago is refused
    (no health check runs, so nothing noticed yet) reports the node, waits for the failover it
    starts and logs in on the promoted standby instead of failing with 08006."""
    with cluster_behind_swiftpool(swiftpool, monkeypatch, "txlogin", 15751, pool_mode="transaction",
                                  transaction_pool_size=4, health_check_period=0) as (pc, proxy):
        pc.stop_node(0, immediate=True)
        time.sleep(1)  # the pool's connections to the killed server close
        with psycopg.connect(proxy.dsn(), autocommit=True, connect_timeout=60) as conn:
            port = conn.execute("INSERT INTO acked VALUES (1) RETURNING inet_server_port()").fetchone()[0]
        assert port == pc.node_port(1), proxy.log()[-3000:]
        assert "primary node is 1" in proxy.log()
