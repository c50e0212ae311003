"""Read/write splitting: writes on the primary, reads spread over the standbys by weight,
Pgpool-II's rules for transactions, BOTH statements and catalog checks."""
from __future__ import annotations

import os
import re
import subprocess
import time

import psycopg
import pytest

from conftest import USERS

ROUTED = {"load_balance_mode": True, "backend_weight0": 0, "backend_weight1": 1,
          "backend_weight2": 1, "backend_weight3": 1, "statement_level_load_balance": False}


def connect(proxy):
    """psycopg prepares a statement after 5 executions (extended protocol, which stays on the
    primary); routing tests keep it on the simple protocol."""
    return proxy.connect(prepare_threshold=None)


def port_of(conn) -> int:
    return int(conn.execute("SELECT current_setting('port')").fetchone()[0])


def warm_up(conn, tries=20):
    """The first statements that use a function or table SwiftPool has not looked up yet go to the
    primary while it learns; wait until a plain read is balanced."""
    for _ in range(tries):
        if port_of(conn) != 15501:
            return
        time.sleep(0.1)


@pytest.fixture
def routed(swiftpool, cluster):
    return swiftpool(ROUTED)


def test_reads_go_to_standbys_by_weight_with_statement_level_balancing(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "statement_level_load_balance": True})
    with connect(proxy) as conn:
        warm_up(conn)
        ports = [port_of(conn) for _ in range(60)]
    assert set(ports) <= set(cluster.standby_ports()), ports
    assert len(set(ports)) >= 2, "reads were not spread over the standbys"


def test_session_level_balancing_keeps_one_node_per_session(routed, cluster):
    seen = set()
    for _ in range(12):
        with connect(routed) as conn:
            warm_up(conn)
            ports = {port_of(conn) for _ in range(5)}
            assert len(ports) == 1, ports
            seen |= ports
    assert seen <= set(cluster.standby_ports())
    assert len(seen) >= 2


def test_weight_zero_standby_gets_no_reads(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "backend_weight2": 0, "backend_weight3": 0, "statement_level_load_balance": True})
    with connect(proxy) as conn:
        warm_up(conn)
        assert {port_of(conn) for _ in range(20)} == {cluster.node_port(1)}


def test_writes_and_reads_after_a_write_in_a_transaction_use_the_primary(routed, cluster):
    with connect(routed) as conn:
        conn.execute("DROP TABLE IF EXISTS routing_t")
        conn.execute("CREATE TABLE routing_t (id int)")
        warm_up(conn)
        conn.execute("BEGIN")
        assert port_of(conn) != cluster.primary_port(), "a read before any write may be balanced"
        conn.execute("INSERT INTO routing_t VALUES (1)")
        assert port_of(conn) == cluster.primary_port()
        # The uncommitted row is visible: the read ran in the writing transaction.
        assert conn.execute("SELECT count(*) FROM routing_t").fetchone()[0] == 1
        conn.execute("COMMIT")
        assert port_of(conn) != cluster.primary_port()
        conn.execute("DROP TABLE routing_t")


def test_both_statements_reach_the_load_balance_node(routed):
    with connect(routed) as conn:
        warm_up(conn)
        conn.execute("SET application_name = 'set-on-both'")
        conn.execute("SET search_path = public, pg_catalog")
        # SHOW is a read and runs on the load-balance node, which got the SET too.
        assert conn.execute("SHOW application_name").fetchone()[0] == "set-on-both"


def test_multi_statement_catalog_temp_and_volatile_go_to_the_primary(routed, cluster):
    primary = cluster.primary_port()
    with connect(routed) as conn:
        warm_up(conn)
        cur = conn.execute("SELECT 1; SELECT current_setting('port')")
        cur.nextset()
        assert int(cur.fetchone()[0]) == primary
        assert int(conn.execute("SELECT current_setting('port') FROM pg_class LIMIT 1").fetchone()[0]) == primary
        conn.execute("CREATE TEMP TABLE routing_tmp (x int)")
        conn.execute("INSERT INTO routing_tmp VALUES (1)")
        assert conn.execute("SELECT count(*) FROM routing_tmp").fetchone()[0] == 1
        conn.execute("CREATE SEQUENCE IF NOT EXISTS routing_seq")
        # nextval on a standby would fail ("cannot execute nextval() in a read-only transaction").
        for _ in range(5):
            conn.execute("SELECT nextval('routing_seq')")
        conn.execute("DROP SEQUENCE routing_seq")


def test_serializable_transaction_stays_on_the_primary(routed, cluster):
    with connect(routed) as conn:
        warm_up(conn)
        conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        assert port_of(conn) == cluster.primary_port()
        conn.execute("COMMIT")


def test_leading_comment_blocks_balancing_unless_allowed(swiftpool, cluster):
    proxy = swiftpool(ROUTED)
    with connect(proxy) as conn:
        warm_up(conn)
        assert int(conn.execute("/* hint */ SELECT current_setting('port')").fetchone()[0]) == cluster.primary_port()
    allowed = swiftpool({**ROUTED, "allow_sql_comments": True})
    with connect(allowed) as conn:
        warm_up(conn)
        assert int(conn.execute("/* hint */ SELECT current_setting('port')").fetchone()[0]) != cluster.primary_port()


def test_load_balance_mode_off_uses_only_the_primary(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "load_balance_mode": False})
    with connect(proxy) as conn:
        assert {port_of(conn) for _ in range(10)} == {cluster.primary_port()}


def test_extended_protocol_reads_are_balanced_and_writes_are_not(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "statement_level_load_balance": True})
    with proxy.connect() as conn:  # psycopg's default: prepared (named) statements after 5 runs
        warm_up(conn)
        conn.execute("DROP TABLE IF EXISTS ext_t")
        conn.execute("CREATE TABLE ext_t (id int)")
        ports = set()
        for i in range(30):
            # A parameter makes psycopg use the extended protocol.
            ports.add(int(conn.execute("SELECT current_setting('port') WHERE %s", (True,)).fetchone()[0]))
        assert ports <= set(cluster.standby_ports()) and len(ports) >= 2, ports
        for i in range(10):
            conn.execute("INSERT INTO ext_t VALUES (%s)", (i,))
        with conn.transaction():
            conn.execute("INSERT INTO ext_t VALUES (%s)", (100,))
            # After a write in the transaction, even a prepared read runs on the primary.
            for _ in range(6):
                row = conn.execute("SELECT current_setting('port'), count(*) FROM ext_t WHERE %s", (True,)).fetchone()
                assert (int(row[0]), row[1]) == (cluster.primary_port(), 11)
        conn.execute("DROP TABLE ext_t")


def test_named_statement_parsed_on_one_node_runs_on_another(swiftpool, cluster):
    """asyncpg prepares (Parse/Describe) and executes separately; a statement prepared while
    reads were balanced must still work on the primary after a write."""
    import asyncio
    import asyncpg
    proxy = swiftpool({**ROUTED, "statement_level_load_balance": True})

    async def scenario():
        conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database="swiftpool_test")
        try:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS marker (x int)")
            stmt = await conn.prepare("SELECT current_setting('port')::int")
            ports = {await stmt.fetchval() for _ in range(20)}
            async with conn.transaction():
                await conn.execute("INSERT INTO marker VALUES (1)")
                in_tx = {await stmt.fetchval() for _ in range(5)}
            return ports, in_tx
        finally:
            await conn.close()

    ports, in_tx = asyncio.run(scenario())
    assert in_tx == {cluster.primary_port()}
    assert ports, ports


def test_database_redirect_preference_list(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "database_redirect_preference_list": "swiftpool_test:3"})
    with connect(proxy) as conn:
        warm_up(conn)
        assert {port_of(conn) for _ in range(10)} == {cluster.node_port(3)}


def test_invalid_redirect_list_is_a_config_error(swiftpool):
    proxy = swiftpool({**ROUTED, "app_name_redirect_preference_list": "x:nowhere"}, wait=False)
    assert proxy.wait_exit(10) == 1
    assert 'app_name_redirect_preference_list' in proxy.log()


def test_pgbench_through_routing_keeps_tpcb_consistent(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "statement_level_load_balance": True})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = USERS["app_readwrite"]
    init = subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(cluster.primary_port()),
                           "-U", "app_readwrite", "swiftpool_test"], env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    for args in (["-S", "-M", "simple"], ["-M", "simple"], ["-S", "-M", "extended"], ["-S", "-M", "prepared"],
                 ["-M", "extended"], ["-M", "prepared"]):
        out = subprocess.run(["pgbench", *args, "-n", "-c", "4", "-j", "2", "-t", "100", "-h", "127.0.0.1",
                              "-p", str(proxy.port), "-U", "app_readwrite", "swiftpool_test"],
                             env=env, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
        assert re.search(r"actually processed: 400/400", out.stdout), out.stdout
    rows = cluster.query("SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history)",
                         user="app_readwrite", db="swiftpool_test")
    assert rows[0][0] == "t"
