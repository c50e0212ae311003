"""Read/write splitting: writes on the primary, reads spread over the standbys by weight,
Pgpool-II's rules for transactions, BOTH statements and catalog checks."""
from __future__ import annotations

import os
import re
import subprocess
import time

import psycopg
import pytest

from conftest import TEST_DB, USERS

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
    for _ in range(30):
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
            # Unprepared, each Parse is balanced on its own (a named statement stays where it
            # was prepared, as in Pgpool-II).
            ports.add(int(conn.execute("SELECT current_setting('port') WHERE %s", (True,), prepare=False).fetchone()[0]))
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


@pytest.mark.parametrize("weights,shares", [((1, 1, 1), (1 / 3, 1 / 3, 1 / 3)), ((2, 1, 1), (0.5, 0.25, 0.25))])
def test_node_postgres_reference_routing(swiftpool, cluster, node_env, weights, shares):
    import json
    from conftest import DRIVERS_DIR
    proxy = swiftpool({**ROUTED, "statement_level_load_balance": True, "backend_weight1": weights[0],
                       "backend_weight2": weights[1], "backend_weight3": weights[2]})
    proc = subprocess.run(["node", str(DRIVERS_DIR / "node_routing.js"), "--port", str(proxy.port)],
                          env=node_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    primary = cluster.primary_port()
    assert result["insertPort"] == primary
    assert result["insertInTransactionPort"] == primary
    assert result["readAfterWritePort"] == primary
    counts = {int(port): n for port, n in result["readCounts"].items()}
    total = sum(counts.values())
    assert total == 3000
    assert counts.get(primary, 0) == 0, counts
    for port, share in zip(cluster.standby_ports(), shares):
        assert abs(counts.get(port, 0) / total - share) <= 0.05, (counts, port, share, proxy.log()[-3000:])


def test_for_update_copy_and_pattern_list(swiftpool, cluster):
    primary = cluster.primary_port()
    proxy = swiftpool({**ROUTED, "primary_routing_query_pattern_list": ".*critical_marker.*"})
    with connect(proxy) as conn:
        conn.execute("DROP TABLE IF EXISTS rt_copy")
        conn.execute("CREATE TABLE rt_copy (id int)")
        with conn.cursor().copy("COPY rt_copy FROM STDIN") as copy:  # COPY FROM: primary
            copy.write_row((1,))
        warm_up(conn)
        assert int(conn.execute("SELECT current_setting('port') FROM (SELECT 1) s FOR UPDATE").fetchone()[0]) == primary
        assert int(conn.execute("SELECT current_setting('port') AS critical_marker").fetchone()[0]) == primary
        # COPY TO of a read is balanced: the standby answers with its own port.
        with conn.cursor().copy("COPY (SELECT current_setting('port')) TO STDOUT") as copy:
            out = b"".join(bytes(chunk) for chunk in copy)
        assert int(out.strip()) in cluster.standby_ports()
        conn.execute("DROP TABLE rt_copy")


@pytest.mark.parametrize("mode", ["off", "transaction", "trans_transaction", "always", "dml_adaptive"])
def test_disable_load_balance_on_write_modes(swiftpool, cluster, mode):
    primary = cluster.primary_port()
    proxy = swiftpool({**ROUTED, "disable_load_balance_on_write": mode})
    with connect(proxy) as conn:
        conn.execute(f"DROP TABLE IF EXISTS dlbow_{mode}")
        conn.execute(f"CREATE TABLE dlbow_{mode} (id int)")
        # Balanced reads of the table must not outrun its replication to the standbys.
        deadline = time.monotonic() + 30
        while not all(cluster.sql(f"SELECT to_regclass('dlbow_{mode}') IS NOT NULL", port=port, db="swiftpool_test").stdout.strip() == "t"
                      for port in cluster.standby_ports()):
            assert time.monotonic() < deadline, "the table never reached the standbys"
            time.sleep(0.1)
        warm_up(conn)
        # Let SwiftPool look the new table up before the routing that depends on it.
        for _ in range(3):
            conn.execute(f"SELECT current_setting('port'), (SELECT count(*) FROM dlbow_{mode})")
            time.sleep(0.2)
        # A write outside a transaction.
        conn.execute(f"INSERT INTO dlbow_{mode} VALUES (1)")
        after_autocommit_write = port_of(conn)
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO dlbow_{mode} VALUES (2)")
        in_tx_same_table = int(conn.execute(f"SELECT current_setting('port'), (SELECT count(*) FROM dlbow_{mode})").fetchone()[0])
        in_tx_other_table = int(conn.execute("SELECT current_setting('port') FROM (SELECT 1) AS dlbow_other_alias").fetchone()[0])
        conn.execute("COMMIT")
        after_commit = port_of(conn)
        conn.execute(f"DROP TABLE dlbow_{mode}")
    expected = {
        "off": (False, False, False, False),
        "transaction": (False, True, True, False),
        "trans_transaction": (False, True, True, False),
        "always": (True, True, True, True),
        "dml_adaptive": (False, True, False, False),
    }[mode]
    got = (after_autocommit_write == primary, in_tx_same_table == primary, in_tx_other_table == primary,
           after_commit == primary)
    assert got == expected, (mode, got)


def test_cursors_in_a_read_only_transaction(routed, cluster):
    with connect(routed) as conn:
        warm_up(conn)
        conn.execute("BEGIN READ ONLY")
        conn.execute("DECLARE c CURSOR FOR SELECT g FROM generate_series(1, 10) g")
        assert conn.execute("FETCH 3 FROM c").fetchall() == [(1,), (2,), (3,)]
        conn.execute("MOVE 2 IN c")
        assert conn.execute("FETCH 1 FROM c").fetchall() == [(6,)]
        conn.execute("CLOSE c")
        conn.execute("COMMIT")
        assert port_of(conn) in cluster.standby_ports()


def test_asyncpg_cursor_forward(routed):
    import asyncio
    import asyncpg

    async def scenario():
        conn = await asyncpg.connect(host="127.0.0.1", port=routed.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database="swiftpool_test")
        try:
            async with conn.transaction():
                cursor = await conn.cursor("SELECT g FROM generate_series(1, 100) g")
                await cursor.forward(10)
                first = await cursor.fetch(5)
                await cursor.forward(80)
                last = await cursor.fetchrow()
            return [r[0] for r in first], last[0]
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == ([11, 12, 13, 14, 15], 96)


def test_syntax_errors_leave_the_session_usable_and_balanced(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "statement_level_load_balance": True})
    with proxy.connect() as conn:
        warm_up(conn)
        for params in ((), (1,)):
            with pytest.raises(psycopg.errors.SyntaxError) as info:
                conn.execute("SELEC current_setting('port') WHERE 1 = %s" if params else "SELEC 1", params or None)
            assert info.value.sqlstate == "42601"
            ports = {int(conn.execute("SELECT current_setting('port')", prepare=False).fetchone()[0]) for _ in range(20)}
            assert ports <= set(cluster.standby_ports()) and len(ports) >= 2


def test_application_name_redirect_and_unlogged_tables(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "app_name_redirect_preference_list": "reporting:2"})
    with psycopg.connect(proxy.dsn(application_name="reporting"), autocommit=True, prepare_threshold=None) as conn:
        warm_up(conn)
        assert {port_of(conn) for _ in range(10)} == {cluster.node_port(2)}
        conn.execute("DROP TABLE IF EXISTS rt_unlogged")
        conn.execute("CREATE UNLOGGED TABLE rt_unlogged (x int)")
        conn.execute("INSERT INTO rt_unlogged VALUES (1)")
        time.sleep(0.5)
        # Standbys cannot read unlogged tables; SwiftPool learns the table is unlogged.
        for _ in range(5):
            assert conn.execute("SELECT count(*) FROM rt_unlogged").fetchone()[0] == 1
        conn.execute("DROP TABLE rt_unlogged")


def test_unreachable_standby_sends_reads_to_the_primary(swiftpool, cluster):
    """Until health checks mark it down, a standby that refuses connections is dropped from the
    session and its reads go to the primary, without an error for the client."""
    proxy = swiftpool({**ROUTED, "backend_weight1": 0, "backend_weight2": 0, "backend_weight3": 1})
    cluster.stop_node(3)
    try:
        with connect(proxy) as conn:
            ports = {port_of(conn) for _ in range(5)}
            assert ports == {cluster.primary_port()}
    finally:
        cluster.start_node(3)
        cluster.wait_streaming()


def test_a_burst_of_reads_on_a_new_table_never_reaches_the_weight_zero_primary(swiftpool, cluster):
    """Facts about a relation (and a function) SwiftPool has not seen are looked up before the
    statement is routed, once for every session that asks: none of the reads reaches the primary."""
    import threading
    import uuid
    table = f"burst_{uuid.uuid4().hex[:12]}"
    cluster.sql(f"CREATE TABLE public.{table} (x int); INSERT INTO public.{table} VALUES (1); "
                f"GRANT SELECT ON public.{table} TO PUBLIC", db=TEST_DB)
    try:
        deadline = time.monotonic() + 20
        for port in cluster.standby_ports():
            while cluster.query(f"SELECT to_regclass('public.{table}') IS NOT NULL", port=port,
                                db=TEST_DB)[0][0] != "t":
                assert time.monotonic() < deadline, f"{table} did not reach the standby on {port}"
                time.sleep(0.1)
        proxy = swiftpool({**ROUTED, "statement_level_load_balance": True})
        ports: list[int] = []
        errors: list[BaseException] = []

        def reader():
            try:
                with connect(proxy) as conn:
                    for _ in range(30):
                        ports.append(int(conn.execute(
                            f"SELECT current_setting('port') FROM {table}").fetchone()[0]))
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=reader) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(ports) == 180
        assert cluster.primary_port() not in ports, (ports.count(cluster.primary_port()), proxy.log()[-3000:])
    finally:
        cluster.sql(f"DROP TABLE IF EXISTS public.{table}", db=TEST_DB)


def test_asyncpg_prepare_then_a_simple_query_through_a_balanced_session(swiftpool):
    """asyncpg prepares with Parse, Describe and Flush (no Sync); a simple query after it ends
    that exchange on its node instead of waiting for a ReadyForQuery that never comes."""
    import asyncio

    import asyncpg
    proxy = swiftpool(ROUTED)

    async def scenario():
        conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database="swiftpool_test")
        try:
            await conn.prepare("SELECT 1")
            status = await asyncio.wait_for(conn.execute("SELECT 1"), 5)
            value = await asyncio.wait_for(conn.fetchval("SELECT 2"), 5)
            await asyncio.wait_for(conn.execute("CREATE TEMP TABLE copied (a int)"), 5)
            await asyncio.wait_for(conn.copy_records_to_table("copied", records=[(1,), (2,)]), 5)
            count = await asyncio.wait_for(conn.fetchval("SELECT count(*) FROM copied"), 5)
            return status, value, count
        finally:
            await conn.close()

    assert asyncio.run(scenario()) == ("SELECT 1", 2, 2)


def test_a_statement_the_classifier_cannot_finish_is_an_error_from_postgresql_not_a_crash(routed):
    """An unclosed EXPLAIN option list once stopped the whole process (found by fuzzing)."""
    with routed.connect() as conn:
        for text in ("EXPLAIN ANALYZE(DELETE FROM t", "EXPLAIN (", "COPY (SELECT 1"):
            with pytest.raises(psycopg.errors.SyntaxError):
                conn.execute(text)
        assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)
    assert routed.is_running()


def test_begin_or_set_in_one_batch_with_a_read_is_followed_by_the_reads_after_it(routed, cluster):
    """Drivers (pgjdbc, psycopg pipelines) send BEGIN or SET in one extended batch with the next
    statement; such a batch runs on the primary alone, so the transaction, and a SET's session,
    exist only there. Later reads must follow them: the client never sees a standby's idle
    status inside its transaction, and never a standby without its SET."""
    primary = cluster.primary_port()
    with routed.connect() as conn:
        conn.autocommit = True
        warm_up(conn)
        with conn.pipeline():
            conn.execute("BEGIN", prepare=False)
            conn.execute("SELECT %s::int", (1,), prepare=False)
        for _ in range(5):
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
            assert conn.execute("SELECT current_setting('port')::int").fetchone()[0] == primary
            assert conn.execute("SELECT current_setting('port')::int + %s", (0,)).fetchone()[0] == primary
        conn.execute("COMMIT")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert port_of(conn) != primary, "reads are balanced again after the transaction"
    with routed.connect() as conn:
        conn.autocommit = True
        warm_up(conn)
        with conn.pipeline():
            conn.execute("SET application_name = 'batched-set'", prepare=False)
            conn.execute("SELECT %s::int", (1,), prepare=False)
        for _ in range(5):
            assert conn.execute("SELECT current_setting('application_name')").fetchone()[0] == "batched-set"
