"""SHOW POOL_* and PGPOOL SHOW/SET/RESET on the SQL port, read with psql, psycopg (simple and
extended protocol), asyncpg and node-postgres, with Pgpool-II 4.3's columns in order."""
from __future__ import annotations

import asyncio
import json
import subprocess
import time

import asyncpg
import psycopg
import pytest

from conftest import DRIVERS_DIR, HOST, USERS

COLUMNS = {
    "SHOW POOL_NODES": ["node_id", "hostname", "port", "status", "pg_status", "lb_weight", "role", "pg_role", "select_cnt",
                        "load_balance_node", "replication_delay", "replication_state", "replication_sync_state",
                        "last_status_change"],
    "SHOW POOL_PROCESSES": ["pool_pid", "start_time", "client_connection_count", "database", "username",
                            "backend_connection_time", "pool_counter", "status"],
    "SHOW POOL_POOLS": ["pool_pid", "start_time", "client_connection_count", "pool_id", "backend_id", "database", "username",
                        "backend_connection_time", "client_connection_time", "client_disconnection_time",
                        "client_idle_duration", "majorversion", "minorversion", "pool_counter", "pool_backendpid",
                        "pool_connected", "status"],
    "SHOW POOL_STATUS": ["item", "value", "description"],
    "SHOW POOL_VERSION": ["pool_version"],
    "SHOW POOL_HEALTH_CHECK_STATS": ["node_id", "hostname", "port", "status", "role", "last_status_change", "total_count",
                                     "success_count", "fail_count", "skip_count", "retry_count", "average_retry_count",
                                     "max_retry_count", "max_duration", "min_duration", "average_duration",
                                     "last_health_check", "last_successful_health_check", "last_skip_health_check",
                                     "last_failed_health_check"],
    "SHOW POOL_BACKEND_STATS": ["node_id", "hostname", "port", "status", "role", "select_cnt", "insert_cnt", "update_cnt",
                                "delete_cnt", "ddl_cnt", "other_cnt", "panic_cnt", "fatal_cnt", "error_cnt"],
}
READS = {"load_balance_mode": True, "statement_level_load_balance": False, "sr_check_period": 0,
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}


@pytest.mark.parametrize("routing", [False, True], ids=["primary-only", "load-balanced"])
def test_every_show_command_with_psycopg(swiftpool, routing):
    proxy = swiftpool(READS if routing else {"sr_check_period": 0})
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        for command, columns in COLUMNS.items():
            for spelling in (command, command.lower(), command + ";"):
                simple = conn.cursor()
                simple.execute(spelling, prepare=False)
                assert [d.name for d in simple.description] == columns, spelling
                rows = simple.fetchall()
                assert rows, spelling
                assert all(len(row) == len(columns) for row in rows)
                # The extended protocol, through a prepared statement, gives the same shape.
                extended = conn.execute(spelling, prepare=True)
                assert [d.name for d in extended.description] == columns
                extended_rows = extended.fetchall()
                if command not in ("SHOW POOL_PROCESSES", "SHOW POOL_POOLS"):  # these change as sessions come and go
                    assert len(extended_rows) == len(rows)
        # Ordinary statements still reach the backends around the admin commands.
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
        nodes = conn.execute("SHOW POOL_NODES").fetchall()
        assert [(r[0], r[2], r[6]) for r in nodes] == [("0", "15501", "primary"), ("1", "15502", "standby"),
                                                        ("2", "15503", "standby"), ("3", "15504", "standby")]
        assert conn.execute("SHOW POOL_VERSION").fetchone()[0].startswith("4.3.5 (SwiftPool ")
        processes = conn.execute("SHOW POOL_PROCESSES").fetchall()
        assert len(processes) == 32
        assert any(r[4] == "app_readwrite" and r[3] == "swiftpool_test" for r in processes)


def test_psql_and_one_result_set(swiftpool):
    proxy = swiftpool({"sr_check_period": 0})
    out = proxy.psql("SHOW POOL_NODES; SELECT 1", check=False)
    # A multi-statement string is not an admin command: it goes to PostgreSQL, which refuses it.
    assert "pool_nodes" in out.stderr
    for command, columns in COLUMNS.items():
        result = subprocess.run(
            ["psql", "-X", "-A", "-F", "|", "-h", HOST, "-p", str(proxy.port), "-U", "app_readwrite", "-d", "swiftpool_test",
             "-c", command], env={"PGPASSWORD": USERS["app_readwrite"], "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert lines[0].split("|") == columns
        assert sum(1 for line in lines if line.startswith("(") and line.endswith(")")) == 1, "more than one result set"


def test_select_cnt_of_a_standby_grows_by_the_reads_it_served(swiftpool):
    proxy = swiftpool(READS)

    def select_counts() -> dict[str, int]:
        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            return {r[2]: int(r[8]) for r in conn.execute("SHOW POOL_NODES").fetchall()}

    served: dict[str, int] = {}
    for _ in range(5):  # learn the catalog facts first
        with proxy.connect(prepare_threshold=None) as conn:
            conn.execute("SELECT 1").fetchone()
    before = select_counts()
    for _ in range(20):
        with proxy.connect(prepare_threshold=None) as conn:
            port = conn.execute("SELECT current_setting('port')").fetchone()[0]
            served[port] = served.get(port, 0) + 1
    after = select_counts()
    for port in ("15502", "15503", "15504"):
        assert after[port] - before[port] == served.get(port, 0), (before, after, served)


def test_asyncpg_and_node_postgres(swiftpool, node_env):
    proxy = swiftpool(READS)

    async def read():
        conn = await asyncpg.connect(host=HOST, port=proxy.port, user="app_readwrite", password=USERS["app_readwrite"],
                                     database="swiftpool_test")
        try:
            out = {}
            for command in COLUMNS:
                rows = await conn.fetch(command)
                out[command] = (list(rows[0].keys()), len(rows))
            out["after"] = await conn.fetchval("SELECT 41 + 1")
            return out
        finally:
            await conn.close()

    result = asyncio.run(asyncio.wait_for(read(), 60))
    for command, columns in COLUMNS.items():
        assert result[command][0] == columns and result[command][1] > 0
    assert result["after"] == 42

    node = subprocess.run(["node", str(DRIVERS_DIR / "node_show.js"), HOST, str(proxy.port), "app_readwrite",
                           USERS["app_readwrite"], "swiftpool_test", *COLUMNS], env=node_env,
                          capture_output=True, text=True, timeout=60)
    assert node.returncode == 0, node.stderr
    shown = json.loads(node.stdout)
    for command, columns in COLUMNS.items():
        assert shown[command]["fields"] == columns
        assert shown[command]["rows"] > 0 and shown[command]["extended_rows"] > 0


def test_pgpool_show_set_reset(swiftpool):
    proxy = swiftpool({"sr_check_period": 0, "client_idle_limit": 0, "health_check_password": "TEXTnot-to-be-shown"})
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        port = conn.execute("PGPOOL SHOW port")
        assert [d.name for d in port.description] == ["port"] and port.fetchone() == (str(proxy.port),)
        everything = conn.execute("PGPOOL SHOW ALL").fetchall()
        assert len(everything) > 100 and all(len(row) == 3 for row in everything)
        backend = dict((r[0], r[1]) for r in conn.execute("PGPOOL SHOW backend").fetchall())
        assert backend["backend_port3"] == "15504"
        assert conn.execute("PGPOOL SHOW health_check_password").fetchone() == ("********",)
        conn.execute("PGPOOL SET client_idle_limit = 77")
        assert conn.execute("PGPOOL SHOW client_idle_limit").fetchone() == ("77",)
        conn.execute("PGPOOL SET client_idle_limit TO DEFAULT")
        assert conn.execute("PGPOOL SHOW client_idle_limit").fetchone() == ("0",)
        conn.execute("PGPOOL SET allow_sql_comments = on")
        conn.execute("PGPOOL RESET ALL")
        assert conn.execute("PGPOOL SHOW allow_sql_comments").fetchone() == ("off",)
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("PGPOOL SET port = 5")
        assert "invalid Context" in str(refused.value)
        with pytest.raises(psycopg.Error) as unknown:
            conn.execute("PGPOOL SHOW no_such_parameter")
        assert unknown.value.sqlstate == "42704"
        with pytest.raises(psycopg.Error) as bad:
            conn.execute("PGPOOL SET client_idle_limit = 'soon'")
        assert bad.value.sqlstate == "22023"
        # The session is still fine.
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # PGPOOL SET client_idle_limit really applies to the session.
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        conn.execute("PGPOOL SET client_idle_limit = 1")
        time.sleep(3)
        with pytest.raises(psycopg.OperationalError) as idle:
            conn.execute("SELECT 1")
        assert "client_idle_limit" in str(idle.value), str(idle.value)


def test_pgpool_set_allow_sql_comments_changes_this_sessions_routing(swiftpool, cluster):
    proxy = swiftpool({**READS, "allow_sql_comments": False})
    primary = str(cluster.primary_port())
    with psycopg.connect(proxy.dsn(), autocommit=True, prepare_threshold=None) as conn:
        # Until SwiftPool has learned the catalog facts, reads stay on the primary.
        deadline = time.monotonic() + 10
        while conn.execute("SELECT current_setting('port')").fetchone()[0] == primary:
            assert time.monotonic() < deadline, "reads never left the primary"
            time.sleep(0.1)
        commented = "/* report */ SELECT current_setting('port')"
        assert conn.execute(commented).fetchone()[0] == primary
        conn.execute("PGPOOL SET allow_sql_comments = on")
        assert conn.execute(commented).fetchone()[0] != primary
        conn.execute("PGPOOL RESET allow_sql_comments")
        assert conn.execute(commented).fetchone()[0] == primary


def test_select_cnt_counts_sessions_without_load_balancing(swiftpool, cluster):
    """Per-node statement counters count every session, not only load-balanced ones."""
    proxy = swiftpool({"load_balance_mode": False})

    def primary_count() -> int:
        with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
            rows = conn.execute("SHOW POOL_NODES").fetchall()
            return next(int(r[8]) for r in rows if int(r[2]) == cluster.primary_port())

    before = primary_count()
    with proxy.connect(prepare_threshold=None) as conn:
        for _ in range(10):
            conn.execute("SELECT 1").fetchone()
    assert primary_count() - before == 10
