"""read_your_writes: a session's reads after its committed writes go only to standbys that have
replayed them, while other reads stay balanced; standbys are held back with pg_wal_replay_pause()."""
from __future__ import annotations

import asyncio
import re
import threading
import time

import asyncpg
import psycopg
import pytest
import requests

from conftest import HOST, TEST_DB, USERS

BALANCED = {"load_balance_mode": True, "statement_level_load_balance": True,
            "disable_load_balance_on_write": "transaction",
            "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}
RYW = {**BALANCED, "read_your_writes": True, "read_your_writes_check_period": 20}
TABLE = "ryw_items"


@pytest.fixture
def items(cluster):
    primary = cluster.primary_port()
    cluster.sql(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (session int, n int)", port=primary, db=TEST_DB)
    cluster.sql(f"GRANT ALL ON {TABLE} TO PUBLIC", port=primary, db=TEST_DB)
    # The standbys must have replayed the GRANT too, not only the CREATE, before replay is paused.
    lsn = cluster.query("SELECT pg_catalog.pg_current_wal_insert_lsn()", port=primary)[0][0]
    deadline = time.time() + 30
    for port in cluster.standby_ports():
        while cluster.query(f"SELECT pg_catalog.pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn", port=port) != [["t"]]:
            assert time.time() < deadline, "the table and its grant did not reach the standbys"
            time.sleep(0.1)
    yield TABLE
    cluster.sql(f"DROP TABLE IF EXISTS {TABLE}", port=primary, db=TEST_DB)


@pytest.fixture
def paused(cluster):
    """Replay paused on every standby but the last one."""
    held = cluster.standby_ports()[:-1]
    for port in held:
        cluster.sql("SELECT pg_catalog.pg_wal_replay_pause()", port=port)
    yield held
    for port in held:
        cluster.sql("SELECT pg_catalog.pg_wal_replay_resume()", port=port)


def warm(proxy):
    """Lets SwiftPool learn the table before the measured reads (unknown relations go to the primary)."""
    with proxy.connect(prepare_threshold=None) as conn:
        conn.autocommit = True
        for _ in range(20):
            conn.execute(f"SELECT count(*) FROM {TABLE}")
            time.sleep(0.02)


def psycopg_session(proxy, session: int, turns: int, results: list, transactions: bool, extended: bool):
    with proxy.connect(prepare_threshold=0 if extended else None) as conn:
        conn.autocommit = True
        for n in range(1, turns + 1):
            if transactions:
                with conn.transaction():
                    conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s)", (session, n))
            else:
                conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s)", (session, n))
            if extended:
                seen, port = conn.execute(f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = %s",
                                          (session,)).fetchone()
            else:
                seen, port = conn.execute(
                    f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = {session}").fetchone()
            results.append((n, seen, port))


async def asyncpg_session(proxy, session: int, turns: int, results: list):
    conn = await asyncpg.connect(host=HOST, port=proxy.port, user="app_readwrite", password=USERS["app_readwrite"],
                                 database=TEST_DB)
    try:
        for n in range(1, turns + 1):
            await conn.execute(f"INSERT INTO {TABLE} VALUES ($1, $2)", session, n)
            row = await conn.fetchrow(f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = $1", session)
            results.append((n, row[0], row[1]))
    finally:
        await conn.close()


def write_then_read(proxy, turns: int = 25) -> list[tuple[int, int, int]]:
    """Eight concurrent sessions (psycopg simple and extended, autocommit and transactions, and
    asyncpg), each inserting a row and reading its rows back at once: (expected, seen, port)."""
    results: list = []
    kinds = [(False, False), (True, False), (False, True), (True, True), (False, False), (False, True)]
    threads = [threading.Thread(target=psycopg_session, args=(proxy, i, turns, results, tx, ext))
               for i, (tx, ext) in enumerate(kinds)]

    async def both():
        await asyncio.gather(*(asyncpg_session(proxy, 100 + i, turns, results) for i in range(2)))

    for t in threads:
        t.start()
    asyncio.run(both())
    for t in threads:
        t.join(timeout=120)
    assert len(results) == (len(kinds) + 2) * turns
    return results


def wait_for_replay(cluster, timeout: float = 30) -> None:
    """Waits until every standby has replayed what the primary has written so far."""
    lsn = cluster.query("SELECT pg_catalog.pg_current_wal_insert_lsn()", port=cluster.primary_port())[0][0]
    deadline = time.time() + timeout
    for port in cluster.standby_ports():
        while cluster.query(f"SELECT pg_catalog.pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn", port=port) != [["t"]]:
            assert time.time() < deadline, f"standby {port} did not replay {lsn} within {timeout}s"
            time.sleep(0.02)


def insert_then_read(proxy, session_id: int, turns: int, caught_up=None) -> list[int]:
    """One session inserting a row and reading its rows back, `turns` times; every read must see
    every row. `caught_up(...)`, when given, runs between the insert and the read. Returns the
    port that served each read."""
    ports = []
    with proxy.connect(prepare_threshold=None) as conn:
        conn.autocommit = True
        for n in range(1, turns + 1):
            conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s)", (session_id, n))
            if caught_up:
                caught_up()
            seen, port = conn.execute(f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = %s",
                                      (session_id,)).fetchone()
            assert seen == n, f"stale read on port {port}"
            ports.append(port)
    return ports


def test_reads_after_writes_see_them_while_standbys_lag(swiftpool, cluster, items, paused):
    proxy = swiftpool(RYW)
    warm(proxy)
    results = write_then_read(proxy)
    stale = [r for r in results if r[1] < r[0]]
    assert stale == [], f"{len(stale)} stale reads, e.g. {stale[:5]}"
    served = {port for _, _, port in results}
    assert not served & set(paused), "a read went to a standby that had not replayed the write"


def test_without_the_mode_the_same_reads_are_stale(swiftpool, cluster, items, paused):
    proxy = swiftpool(BALANCED)
    warm(proxy)
    results = write_then_read(proxy, turns=10)
    stale = [r for r in results if r[1] < r[0]]
    assert stale, "no stale read without read_your_writes: the test could not tell the modes apart"


def test_reads_return_to_standbys_once_they_caught_up(swiftpool, cluster, items):
    proxy = swiftpool(RYW)
    warm(proxy)
    # Every standby replays the insert, then SwiftPool's next position check (every 20 ms) sees it.
    ports = insert_then_read(proxy, session_id=1, turns=10, caught_up=lambda: (wait_for_replay(cluster), time.sleep(0.2)))
    on_standbys = [p for p in ports if p in cluster.standby_ports()]
    assert len(on_standbys) >= 8, f"reads stayed on the primary after the standbys caught up: {ports}"


def test_sessions_that_only_read_stay_balanced(swiftpool, cluster, items, paused):
    proxy = swiftpool(RYW)
    warm(proxy)
    with proxy.connect(prepare_threshold=None) as conn:
        conn.autocommit = True
        ports = {conn.execute(f"SELECT inet_server_port(), count(*) FROM {TABLE}").fetchone()[0] for _ in range(40)}
    assert len(ports & set(cluster.standby_ports())) >= 2, ports


def test_sql_prepare_behaves_as_on_one_server_under_statement_level_balancing(swiftpool, cluster, items):
    proxy = swiftpool(BALANCED)
    warm(proxy)
    with proxy.connect(prepare_threshold=None) as conn:
        conn.autocommit = True
        conn.execute(f"PREPARE q AS SELECT inet_server_port(), count(*) FROM {TABLE}")
        ports = {conn.execute("EXECUTE q").fetchone()[0] for _ in range(40)}
        assert len(ports & set(cluster.standby_ports())) >= 2, f"EXECUTE was not balanced: {ports}"
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'q'").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            conn.execute("PREPARE q AS SELECT 1")
        assert conn.execute("EXECUTE q").fetchone()[1] == 0, "the first q must still be the one executed"
        conn.execute("DEALLOCATE q")
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            conn.execute("EXECUTE q")
        conn.execute(f"PREPARE w AS INSERT INTO {TABLE} VALUES (7, 7)")
        conn.execute("EXECUTE w")
        assert conn.execute(f"SELECT count(*) FROM {TABLE} WHERE session = 7").fetchone()[0] in (0, 1)
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            conn.execute(f"PREPARE w AS SELECT 1")
    assert cluster.query(f"SELECT count(*) FROM {TABLE} WHERE session = 7", port=cluster.primary_port(),
                         db=TEST_DB) == [["1"]]


def test_a_position_carried_to_another_session_holds_its_reads(swiftpool, cluster, items, paused):
    proxy = swiftpool(RYW)
    warm(proxy)
    with proxy.connect(prepare_threshold=None) as writer, proxy.connect(prepare_threshold=None) as reader, \
            proxy.connect(prepare_threshold=None) as bystander:
        writer.autocommit = reader.autocommit = bystander.autocommit = True
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            reader.execute("PGPOOL SET read_your_writes_position = 'not a position'")
        # The control: a session that never carries a position reads from all three standbys, two
        # of them paused. (The reader itself keeps the last position it was given, so after the
        # first turn it no longer reads from the paused ones even before it is given the new one.)
        stale_without = 0
        for n in range(1, 21):
            writer.execute(f"INSERT INTO {TABLE} VALUES (9, %s)", (n,))
            position = writer.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
            stale_without += bystander.execute(f"SELECT count(*) FROM {TABLE} WHERE session = 9").fetchone()[0] < n
            reader.execute(f"PGPOOL SET read_your_writes_position = '{position}'")
            seen, port = reader.execute(f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = 9").fetchone()
            assert seen == n, f"turn {n}: the reader did not see the writer's row at {position} (port {port})"
            assert port not in paused
        assert stale_without > 0, "a session without the position saw every row: the test could not tell"


def test_a_statement_prepared_on_a_lagging_standby_is_not_used_after_a_write(swiftpool, cluster, items, paused):
    """psycopg prepares the read (a named protocol-level statement) on a standby before the
    session writes; executed again after the write, it must not run there."""
    proxy = swiftpool(RYW)
    warm(proxy)
    first_ports = []
    # Each session's first read lands on one of three standbys, two of them paused: 24 sessions
    # all missing them has a chance of (1/3)^24.
    for session_id in range(200, 224):
        with proxy.connect(prepare_threshold=0) as conn:
            conn.autocommit = True
            read = f"SELECT count(*), inet_server_port() FROM {TABLE} WHERE session = %s"
            first_ports.append(conn.execute(read, (session_id,)).fetchone()[1])
            for n in range(1, 6):
                conn.execute(f"INSERT INTO {TABLE} VALUES (%s, %s)", (session_id, n))
                seen, port = conn.execute(read, (session_id,)).fetchone()
                assert seen == n, f"stale read on port {port}"
                assert port not in paused
    assert set(first_ports) & set(paused), f"no read was prepared on a paused standby first: {first_ports}"


def test_a_read_waits_for_a_standby_instead_of_going_to_the_primary(swiftpool, cluster, items, paused):
    proxy = swiftpool({**RYW, "read_your_writes_wait": 5000})
    warm(proxy)
    ports = insert_then_read(proxy, session_id=3, turns=10)
    assert not set(ports) & set(paused)
    running = set(cluster.standby_ports()) - set(paused)
    assert sum(p in running for p in ports) >= 8, f"the reads did not wait for the standby that replays: {ports}"
    text = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text
    waited = re.search(r'^swiftpool_read_your_writes_waits_total\{outcome="standby"\} (\d+)', text, re.M)
    assert waited and int(waited.group(1)) >= 8, text[-2000:]
