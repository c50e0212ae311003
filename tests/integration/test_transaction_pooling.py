"""Transaction pooling: many clients over few backend connections, with prepared statements
and session settings that follow each client from one backend connection to the next, pins for
what lives in one server session, and Pgpool-II's routing for each unit of work."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import threading
import time

import asyncpg
import psycopg
import pytest
import requests

from conftest import TEST_DB, USERS
from test_transaction_pooling_drivers import BackendMonitor, proxy_backend_sockets

ROUTED = {"load_balance_mode": True, "backend_weight0": 0, "backend_weight1": 1,
          "backend_weight2": 1, "backend_weight3": 1, "statement_level_load_balance": True}


def transaction_mode(swiftpool, **overrides):
    params = {"pool_mode": "transaction", "transaction_pool_size": 2, "num_event_loops": 1,
              "load_balance_mode": False}
    params.update(overrides)
    return swiftpool(params)


def backend_connections(cluster, port: int, application_name: str) -> int:
    """Client backends SwiftPool opened to the node at `port` for clients named `application_name`."""
    return int(scalar(cluster, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_readwrite' "
                      f"AND datname = '{TEST_DB}' AND application_name = '{application_name}'", port=port))


def scalar(cluster, sql: str, port: int | None = None, db: str = TEST_DB) -> str:
    """The first column of the first row of `sql`, run on a node as the superuser."""
    return cluster.query(sql, port=port, db=db)[0][0]


ADMIN = ("pcpadmin", "pcpadminpass")


def api(proxy, path: str):
    response = requests.get(f"http://127.0.0.1:{proxy.http_port}{path}", auth=ADMIN, timeout=10)
    response.raise_for_status()
    return response.json()


def metric(proxy, sample: str) -> float:
    """The value of one sample (name and labels as rendered) from /metrics."""
    text = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} is not in /metrics")


@contextlib.contextmanager
def connections(proxy, count: int, **options):
    """`count` clients of the proxy, closed at the end."""
    conns = [proxy.connect(**options) for _ in range(count)]
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


def started_threads(target, arguments) -> list[threading.Thread]:
    """One thread per argument tuple, each running `target`, started."""
    threads = [threading.Thread(target=target, args=tuple(args)) for args in arguments]
    for t in threads:
        t.start()
    return threads


def most_at_once(count, want: int, within: float) -> int:
    """The most `count()` returned, sampled every 50 ms for `within` seconds or until it
    reached `want`."""
    most = 0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and most < want:
        most = max(most, count())
        time.sleep(0.05)
    return most


def pid(conn) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_a_client_moves_between_backend_connections_and_keeps_its_settings(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=3)
    with proxy.connect() as a, proxy.connect() as b, proxy.connect() as c:
        a.execute("SET search_path TO app_schema_a, public")
        a.execute("SET application_name = 'client-a'")
        first = pid(a)
        # b and c hold connections in open transactions, one of them a's last one.
        b.execute("BEGIN")
        c.execute("BEGIN")
        held = {pid(b), pid(c)}
        with a.transaction():
            moved = pid(a)
            assert a.execute("SHOW search_path").fetchone()[0] == "app_schema_a, public"
            assert a.execute("SELECT current_setting('application_name')").fetchone()[0] == "client-a"
        assert moved not in held
        assert first in held, "the test needs a's first connection to be taken by another client"
        # The client that got a's old connection sees the defaults.
        for other in (b, c):
            assert other.execute("SHOW search_path").fetchone()[0] == '"$user", public'
            assert other.execute("SHOW application_name").fetchone()[0] == ""
            other.execute("COMMIT")


def test_set_local_rolled_back_set_reset_and_discard_all(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect() as a, proxy.connect() as churn:
        a.execute("SET statement_timeout = '41s'")
        with a.transaction():
            a.execute("SET LOCAL statement_timeout = '42s'")
            assert a.execute("SHOW statement_timeout").fetchone()[0] == "42s"
        assert a.execute("SHOW statement_timeout").fetchone()[0] == "41s"
        a.execute("BEGIN")
        a.execute("SET timezone = 'Asia/Tokyo'")
        a.execute("ROLLBACK")
        for _ in range(4):
            churn.execute("BEGIN")
            churn.execute("SELECT 1")
            assert a.execute("SHOW timezone").fetchone()[0] != "Asia/Tokyo"
            assert a.execute("SHOW statement_timeout").fetchone()[0] == "41s"
            churn.execute("COMMIT")
        a.execute("BEGIN")
        a.execute("SET timezone = 'Asia/Tokyo'")
        a.execute("COMMIT")
        churn.execute("BEGIN")
        churn.execute("SELECT 1")
        assert a.execute("SHOW timezone").fetchone()[0] == "Asia/Tokyo"
        churn.execute("COMMIT")
        a.execute("RESET timezone")
        assert a.execute("SHOW timezone").fetchone()[0] != "Asia/Tokyo"
        a.execute("DISCARD ALL")
        churn.execute("BEGIN")
        churn.execute("SELECT 1")
        assert a.execute("SHOW statement_timeout").fetchone()[0] == "0"
        churn.execute("COMMIT")


def test_a_backend_that_does_not_answer_the_settings_replay_fails_that_client_only(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1)
    with proxy.connect() as a, proxy.connect() as b:
        a.execute("SET statement_timeout = '43s'")
        shared = pid(b)  # the one connection, now back at b's (default) settings
        outcome: list[str | None] = []

        def statement():
            try:
                a.execute("SELECT 1")
                outcome.append("answered")
            except psycopg.Error as error:
                outcome.append(error.sqlstate)

        os.kill(shared, signal.SIGSTOP)
        try:
            thread = threading.Thread(target=statement)
            thread.start()
            thread.join(40)
            assert not thread.is_alive(), "a's statement hangs on a backend that never answers its settings"
        finally:
            os.kill(shared, signal.SIGCONT)
        assert outcome == ["08006"]
    with proxy.connect() as c:
        assert pid(c) != shared, "the connection that did not answer went back to the pool"
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_three_hundred_clients_share_eight_connections_per_node(swiftpool, cluster):
    proxy = swiftpool({**ROUTED, "pool_mode": "transaction", "transaction_pool_size": 8, "num_event_loops": 2,
                       "num_init_children": 400, "transaction_pool_timeout": 60})
    cluster.sql("DROP TABLE IF EXISTS tp_load; CREATE TABLE tp_load (client int, n int); "
                "GRANT ALL ON tp_load TO app_readwrite", db=TEST_DB)
    most = {port: 0 for port in cluster.ports}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for port in most:
                most[port] = max(most[port], backend_connections(cluster, port, "tp-300"))
            time.sleep(0.05)

    async def client(number: int):
        conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database=TEST_DB, timeout=60,
                                     server_settings={"application_name": "tp-300"})
        try:
            for n in range(1, 6):
                async with conn.transaction():
                    await conn.execute("INSERT INTO tp_load VALUES ($1, $2)", number, n)
                    assert await conn.fetchval("SELECT count(*) FROM tp_load WHERE client = $1", number) == n
                assert await conn.fetchval("SELECT $1::int * 3 + $2::int", number, n) == number * 3 + n
        finally:
            await conn.close()

    async def everyone():
        await asyncio.gather(*(client(i) for i in range(300)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        asyncio.run(everyone())
    finally:
        stop.set()
        watcher.join()
    assert int(scalar(cluster, "SELECT count(*) FROM tp_load")) == 1500
    assert int(scalar(cluster, "SELECT count(DISTINCT client) FROM tp_load")) == 300
    print("backend connections per node at most:", most)
    assert all(count <= 8 for count in most.values()), most
    assert most[cluster.primary_port()] >= 2, most
    assert sum(most[port] for port in cluster.standby_ports()) >= 2, "reads were not balanced: " + str(most)
    cluster.sql("DROP TABLE tp_load", db=TEST_DB)


def test_a_session_advisory_lock_pins_the_client_until_it_leaves(swiftpool, cluster):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect() as a, proxy.connect() as b:
        a.execute("SELECT pg_advisory_lock(7707)")
        pinned = pid(a)
        for _ in range(5):
            with b.transaction():
                assert pid(b) != pinned
            assert pid(a) == pinned
            assert scalar(cluster, "SELECT pg_try_advisory_lock(7707)") == "f"
        held = scalar(cluster, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7707 "
                             f"AND pid = {pinned}")
        assert held == "1"
    # The client left: its connection was reset, the lock is free.
    deadline = time.monotonic() + 10
    while scalar(cluster, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7707",
                        db=TEST_DB) != "0":
        assert time.monotonic() < deadline, "the advisory lock outlived its client"
        time.sleep(0.1)


def test_listen_receives_notify_across_transactions(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect() as listener, proxy.connect() as sender:
        listener.execute("LISTEN tp_jobs")
        for i in range(3):
            with sender.transaction():
                sender.execute("SELECT pg_notify('tp_jobs', %s)", (f"job-{i}",))
            listener.execute("SELECT 1")
        got = [n.payload for n in listener.notifies(timeout=5, stop_after=3)]
        assert got == ["job-0", "job-1", "job-2"]


def test_without_pinning_session_features_are_refused_and_the_session_goes_on(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_pinning=False)
    with proxy.connect() as conn:
        for statement in ("LISTEN tp_refused", "SELECT pg_advisory_lock(7708)", "PREPARE tp_p AS SELECT 1",
                          "CREATE TEMP TABLE tp_temp (a int)", "DECLARE c CURSOR WITH HOLD FOR SELECT 1"):
            with pytest.raises(psycopg.errors.FeatureNotSupported) as refused:
                conn.execute(statement)
            assert "transaction_pool_pinning" in str(refused.value), statement
            assert conn.execute("SELECT 41 + 1").fetchone()[0] == 42
        # Through the extended protocol, with parameters: refused the same way.
        for _ in range(2):
            with pytest.raises(psycopg.errors.FeatureNotSupported):
                conn.execute("SELECT pg_advisory_lock(%s)", (7712,), prepare=True)
            assert conn.execute("SELECT %s::int", (5,)).fetchone()[0] == 5
        # Advisory locks scoped to a transaction need no pin.
        with conn.transaction():
            assert conn.execute("SELECT pg_try_advisory_xact_lock(7709)").fetchone()[0] is True


def test_waiting_for_a_connection_ends_with_53300_after_the_timeout(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, transaction_pool_timeout=1)
    with proxy.connect() as holder, proxy.connect() as waiter:
        holder.execute("BEGIN")
        holder.execute("SELECT 1")
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as failed:
            waiter.execute("SELECT 2")
        assert failed.value.sqlstate == "53300", failed.value
        assert "transaction_pool_timeout" in str(failed.value)
        assert time.monotonic() - started >= 0.9
        # The holder is unaffected.
        assert holder.execute("SELECT 3").fetchone()[0] == 3
        holder.execute("COMMIT")
    with proxy.connect() as later:
        assert later.execute("SELECT 4").fetchone()[0] == 4


def test_a_timeout_shortened_by_reload_applies_to_the_next_waiter(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, transaction_pool_timeout=30)
    with proxy.connect() as holder, proxy.connect() as patient, proxy.connect() as hurried:
        holder.execute("BEGIN")
        holder.execute("SELECT 1")
        outcome: list[object] = []

        def wait_long():
            try:
                outcome.append(patient.execute("SELECT 2").fetchone()[0])
            except psycopg.Error as error:
                outcome.append(error)

        waiting = threading.Thread(target=wait_long, daemon=True)
        waiting.start()
        deadline = time.monotonic() + 10
        while sum(node["waiting"] for node in api(proxy, "/api/v1/pool")["nodes"]) < 1:
            assert time.monotonic() < deadline, "the first client never waited"
            time.sleep(0.05)
        with open(proxy.conf_path, "a") as conf:
            conf.write("transaction_pool_timeout = 1\n")
        proxy.reload()
        deadline = time.monotonic() + 20
        while api(proxy, "/api/v1/config")["parameters"]["transaction_pool_timeout"] != "1":
            assert time.monotonic() < deadline, "the reload was not applied"
            time.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as failed:
            hurried.execute("SELECT 3")
        assert failed.value.sqlstate == "53300", failed.value
        assert time.monotonic() - started < 5, "the shortened timeout waited for the old timer"
        holder.execute("COMMIT")
        waiting.join(10)
        assert outcome == [2], outcome


def test_sql_prepare_pins_and_protocol_statements_survive_ddl(swiftpool, cluster):
    cluster.sql("DROP TABLE IF EXISTS tp_ddl; CREATE TABLE tp_ddl (a int); INSERT INTO tp_ddl VALUES (1); "
                "GRANT ALL ON tp_ddl TO app_readwrite", db=TEST_DB)
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect() as conn, proxy.connect(prepare_threshold=0) as prepared, proxy.connect() as churn:
        conn.execute("PREPARE tp_double(int) AS SELECT $1 * 2")
        for i in range(5):
            churn.execute("SELECT 1")
            assert conn.execute(f"EXECUTE tp_double({i})").fetchone()[0] == i * 2
        conn.execute("DEALLOCATE tp_double")
        for _ in range(3):
            assert prepared.execute("SELECT * FROM tp_ddl").fetchall() == [(1,)]
        cluster.sql("ALTER TABLE tp_ddl ADD COLUMN b int DEFAULT 5", db=TEST_DB)
        rows = None
        for _ in range(3):
            try:
                rows = prepared.execute("SELECT * FROM tp_ddl").fetchall()
                break
            except psycopg.errors.FeatureNotSupported as error:
                assert "cached plan must not change result type" in str(error)
        assert rows == [(1, 5)], "the statement never worked again after the DDL"
    cluster.sql("DROP TABLE tp_ddl", db=TEST_DB)


def test_deallocate_of_a_statement_that_cannot_be_prepared_again_answers(swiftpool, cluster):
    """SQL DEALLOCATE of a protocol-level statement, on a connection that lacks it, after DDL made
    it impossible to prepare again: the client gets its DEALLOCATE, not a hang."""
    cluster.sql("DROP TABLE IF EXISTS tp_gone; CREATE TABLE tp_gone (a int); GRANT ALL ON tp_gone TO app_readwrite",
                db=TEST_DB)
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect(prepare_threshold=0) as client, proxy.connect() as holder:
        # psycopg's first prepared statement is _pg3_0.
        assert client.execute("SELECT count(*) FROM tp_gone").fetchone()[0] == 0
        first = pid(client)
        # The other client holds the connection that has the statement.
        holder.execute("BEGIN")
        assert pid(holder) == first
        cluster.sql("DROP TABLE tp_gone", db=TEST_DB)
        outcome: list[object] = []
        done = threading.Event()

        def deallocate():
            try:
                outcome.append(client.execute("DEALLOCATE _pg3_0", prepare=False).statusmessage)
            except psycopg.Error as error:
                outcome.append(error)
            done.set()

        threading.Thread(target=deallocate, daemon=True).start()
        assert done.wait(10), "DEALLOCATE never answered"
        assert outcome == ["DEALLOCATE"], outcome
        assert pid(client) != first
        holder.execute("COMMIT")


def test_a_discard_all_that_fails_leaves_the_clients_statements_in_place(swiftpool):
    from psycopg.pq import ExecStatus
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect() as conn:
        pgconn = conn.pgconn  # libpq itself: the statement name is the test's, not a driver's

        def run(sql: bytes):
            return pgconn.exec_(sql)

        def execute_mine(value: int):
            result = pgconn.exec_prepared(b"mine", [str(value).encode()])
            if result.status != ExecStatus.TUPLES_OK:
                return result.error_field(psycopg.pq.DiagnosticField.SQLSTATE)
            return int(result.get_value(0, 0))

        assert pgconn.prepare(b"mine", b"SELECT $1::int + 1").status == ExecStatus.COMMAND_OK
        assert execute_mine(1) == 2
        run(b"BEGIN")
        refused = run(b"DISCARD ALL")
        assert refused.error_field(psycopg.pq.DiagnosticField.SQLSTATE) == b"25001"
        run(b"ROLLBACK")
        assert execute_mine(2) == 3, "the DISCARD ALL that failed took the client's statement"
        assert run(b"DISCARD ALL").status == ExecStatus.COMMAND_OK
        assert execute_mine(3) == b"26000", "after a DISCARD ALL that ran the statement is gone, as directly"


def test_a_suspended_portal_outlives_statements_prepared_after_it_in_its_transaction(swiftpool):
    """asyncpg's cursor reads a portal in pieces; statements prepared meanwhile in the same
    transaction, beyond the connection's statement capacity, close the cursor's statement (the
    least recently used) while its portal goes on, as PostgreSQL keeps a portal's plan."""
    proxy = transaction_mode(swiftpool, transaction_pool_prepared_statements=1)

    async def run():
        conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database=TEST_DB)
        try:
            async with conn.transaction():
                statement = await conn.prepare("SELECT g FROM generate_series(1, 30) AS g")
                cursor = await statement.cursor()
                seen = list(await cursor.fetch(10))
                for i in range(3):
                    assert await conn.fetchval(f"SELECT {i} + $1::int", 1) == i + 1
                seen += await cursor.fetch(10)
                seen += await cursor.fetch(10)
            assert [row[0] for row in seen] == list(range(1, 31))
            # Later units close what went beyond the capacity; statements still work.
            for i in range(3):
                assert await conn.fetchval(f"SELECT {i} * $1::int", 2) == i * 2
        finally:
            await conn.close()

    asyncio.run(run())


def test_cancel_reaches_the_backend_running_the_query(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    with proxy.connect() as other, proxy.connect() as conn:
        other.execute("BEGIN")
        other.execute("SELECT 1")
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30)")
        timer.join()
        assert time.monotonic() - started < 10
        assert conn.execute("SELECT 5").fetchone()[0] == 5
        other.execute("COMMIT")


def test_a_cancel_while_the_statement_waits_for_a_connection_cancels_it_once_it_runs(swiftpool):
    """The client cancels while its statement still waits for a free connection (as a driver's
    timeout does under load): the statement is cancelled as soon as it starts, instead of
    running to its end with nobody waiting for it."""
    proxy = transaction_mode(swiftpool, transaction_pool_size=1)
    with proxy.connect() as holder, proxy.connect() as conn:
        holder.execute("BEGIN")
        holder.execute("SELECT 1")  # holds the only connection
        outcome: dict = {}

        def run() -> None:
            started = time.monotonic()
            try:
                conn.execute("SELECT pg_sleep(20)")
                outcome["result"] = "ran to its end"
            except psycopg.errors.QueryCanceled:
                outcome["result"] = "cancelled"
            outcome["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.5)
        conn.cancel_safe()
        time.sleep(0.5)
        holder.execute("COMMIT")  # the connection comes free and the statement starts
        thread.join(30)
        assert outcome.get("result") == "cancelled", outcome
        assert outcome["seconds"] < 10, outcome
        assert conn.execute("SELECT 5").fetchone()[0] == 5
        # The cancel was spent on that statement: the next one on the same connection runs.
        assert conn.execute("SELECT pg_sleep(0.3), 6").fetchone()[1] == 6


def test_a_client_that_never_answers_the_password_request_holds_no_connection(swiftpool):
    """Without pool_hba the backend is logged in first and the client is asked what it asked
    for. A client that never answers (slow, or without a password) must not keep that
    connection: with one connection per node, the next client logs in and runs at once."""
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, enable_pool_hba=False,
                             authentication_timeout=30, transaction_pool_timeout=5)
    params = f"user\x00app_readwrite\x00database\x00{TEST_DB}\x00\x00".encode()
    with socket.create_connection(("127.0.0.1", proxy.port)) as silent:
        silent.settimeout(10)
        silent.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        request = silent.recv(1024)
        assert request[:1] == b"R" and struct.unpack("!i", request[5:9])[0] == 10, request  # SASL
        started = time.monotonic()
        with proxy.connect() as conn:
            assert conn.execute("SELECT 7").fetchone()[0] == 7
            conn.execute("SET application_name = 'after_the_silent_one'")
            assert conn.execute("SHOW application_name").fetchone()[0] == "after_the_silent_one"
        assert time.monotonic() - started < 4
    # The login reply still carries the server's parameters.
    with proxy.connect() as conn:
        assert conn.info.parameter_status("server_version")
        assert conn.info.parameter_status("client_encoding") == "UTF8"
        assert conn.execute("SELECT current_user").fetchone()[0] == "app_readwrite"


def test_a_login_is_answered_without_waiting_for_a_busy_pool(swiftpool):
    """Once a login with the same startup packet leased a connection, the next logins are
    answered from what it learnt: with the pool's only connection held in a transaction, a new
    client still logs in at once; its first statement then waits for the connection."""
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, transaction_pool_timeout=20)
    with proxy.connect() as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT 1")  # holds the only connection
        assert metric(proxy, "swiftpool_transaction_pool_logins_without_lease_total") == 0
        timer = threading.Timer(3, holder.commit)
        timer.start()
        started = time.monotonic()
        with proxy.connect() as late:
            logged_in = time.monotonic() - started
            assert late.info.parameter_status("server_version") == holder.info.parameter_status("server_version")
            assert late.info.parameter_status("TimeZone") == holder.info.parameter_status("TimeZone")
            assert late.execute("SELECT current_user").fetchone()[0] == "app_readwrite"
            ran = time.monotonic() - started
        timer.join()
    assert logged_in < 1.5, f"the login waited {logged_in:.1f} s for the busy pool"
    assert ran >= 2.5, f"the first statement ran after {ran:.1f} s, before the holder's commit"
    assert metric(proxy, "swiftpool_transaction_pool_logins_without_lease_total") == 1


def test_a_client_that_leaves_inside_a_transaction_leaves_a_clean_connection(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1)
    quitter = proxy.connect()
    quitter.execute("BEGIN")
    quitter.execute("SET LOCAL work_mem = '3MB'")
    quitter.close()
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert conn.execute("SELECT now() = statement_timestamp()").fetchone()[0] is True, \
            "the next client landed inside the left transaction"
        assert conn.execute("SHOW work_mem").fetchone()[0] != "3MB"


def test_idle_pooled_connections_close_after_connection_life_time(swiftpool, cluster):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2, connection_life_time=2)
    primary = cluster.primary_port()
    with proxy.connect(application_name="tp-life") as one, proxy.connect(application_name="tp-life") as two:
        one.execute("BEGIN")
        two.execute("BEGIN")
        assert one.execute("SELECT 1").fetchone()[0] == 1 and two.execute("SELECT 2").fetchone()[0] == 2
        one.execute("COMMIT")
        two.execute("COMMIT")
        assert backend_connections(cluster, primary, "tp-life") == 2, "both connections stay in the pool, idle"
        # Used every second, one stays; the other has been idle since the burst and goes.
        deadline = time.monotonic() + 15
        while backend_connections(cluster, primary, "tp-life") > 1 and time.monotonic() < deadline:
            assert one.execute("SELECT 3").fetchone()[0] == 3
            time.sleep(0.5)
        assert backend_connections(cluster, primary, "tp-life") == 1
        assert one.execute("SELECT 4").fetchone()[0] == 4 and two.execute("SELECT 5").fetchone()[0] == 5
    # Nobody uses it any more: the last one goes too.
    deadline = time.monotonic() + 15
    while backend_connections(cluster, primary, "tp-life") > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert backend_connections(cluster, primary, "tp-life") == 0


def test_a_pool_size_below_the_event_loops_is_warned_about(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, num_event_loops=2)
    assert "transaction_pool_size = 1 is below the number of event loops (2)" in proxy.log()
    quiet = transaction_mode(swiftpool, transaction_pool_size=2, num_event_loops=2)
    assert "is below the number of event loops" not in quiet.log()


def test_routing_in_transaction_mode(swiftpool, cluster):
    primary = cluster.primary_port()
    proxy = swiftpool({**ROUTED, "pool_mode": "transaction", "transaction_pool_size": 2, "num_event_loops": 1,
                       "disable_load_balance_on_write": "transaction"})
    cluster.sql("DROP TABLE IF EXISTS tp_route; CREATE TABLE tp_route (a int); GRANT ALL ON tp_route TO app_readwrite",
                db=TEST_DB)
    deadline = time.monotonic() + 30
    while not all(scalar(cluster, "SELECT to_regclass('tp_route') IS NOT NULL", port=port) == "t"
                  for port in cluster.standby_ports()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with proxy.connect(prepare_threshold=None) as conn:
        def port_of() -> int:
            return int(conn.execute("SELECT current_setting('port')").fetchone()[0])
        for _ in range(20):
            if port_of() != primary:
                break
            time.sleep(0.1)
        reads = [port_of() for _ in range(40)]
        assert set(reads) <= set(cluster.standby_ports()), reads
        assert len(set(reads)) >= 2, "reads were not balanced"
        conn.execute("BEGIN")
        conn.execute("INSERT INTO tp_route VALUES (1)")
        assert port_of() == primary
        assert conn.execute("SELECT count(*) FROM tp_route").fetchone()[0] == 1
        conn.execute("COMMIT")
        assert port_of() in cluster.standby_ports()
        conn.execute("INSERT INTO tp_route VALUES (2)")
    assert scalar(cluster, "SELECT count(*) FROM tp_route") == "2"
    cluster.sql("DROP TABLE tp_route", db=TEST_DB)


def test_pool_mode_list_picks_the_mode_per_user_and_database(swiftpool):
    proxy = swiftpool({"pool_mode": "session", "pool_mode_list": f"app_readwrite@{TEST_DB}:transaction",
                       "transaction_pool_size": 1, "num_event_loops": 1, "load_balance_mode": False})
    with proxy.connect() as a, proxy.connect() as b:
        # Transaction mode: both clients share the one connection.
        assert pid(a) == pid(b)
    with proxy.connect(user="app_readonly", password=USERS["app_readonly"]) as c, \
            proxy.connect(user="app_readonly", password=USERS["app_readonly"]) as d:
        # Session mode for this user: one backend connection each.
        assert pid(c) != pid(d)


@pytest.mark.parametrize("prepare", [None, 0])
def test_large_parameters_and_rows_stream_through_pooled_connections(swiftpool, prepare):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1)
    payload = bytes(range(256)) * (24 * 1024)  # 6 MiB
    with proxy.connect(prepare_threshold=prepare) as conn, proxy.connect() as churn:
        for _ in range(3):
            churn.execute("SELECT 1")
            assert conn.execute("SELECT length(%b::bytea), md5(%b::bytea)", (payload, payload)).fetchone() == \
                (len(payload), __import__("hashlib").md5(payload).hexdigest())
            assert conn.execute("SELECT repeat('x', 5000000)").fetchone()[0] == "x" * 5000000


def test_a_named_statement_too_large_to_hold_pins_its_client(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)
    literal = "y" * 400_000
    with proxy.connect(prepare_threshold=0) as conn, proxy.connect() as churn:
        for _ in range(3):
            with churn.transaction():
                churn.execute("SELECT 1")
            assert conn.execute(f"SELECT length('{literal}') + %s", (1,)).fetchone()[0] == 400_001
        sessions = api(proxy, "/api/v1/sessions")["sessions"]
        pinned = [session["pinned"] for session in sessions if session["pool_mode"] == "transaction"]
        assert ["large_statement"] in pinned, sessions


def test_metrics_and_the_admin_api_show_modes_pins_waits_and_statements(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, pool_mode_list="*@postgres:session")
    with proxy.connect() as pinned, proxy.connect(prepare_threshold=0) as preparing, \
            proxy.connect(dbname="postgres") as session_mode:
        pinned.execute("SELECT pg_advisory_lock(7710)")
        session_mode.execute("SELECT 1")
        # One connection per node: the pinned client holds it, so a new one opens only once
        # the pin ends; here the preparing client waits until the test lets the pin go.
        released = threading.Timer(0.5, lambda: pinned.execute("DISCARD ALL"))
        sessions = api(proxy, "/api/v1/sessions")["sessions"]
        assert sorted(s["pool_mode"] for s in sessions) == ["session", "transaction", "transaction"], sessions
        pins = [s["pinned"] for s in sessions if s["pinned"]]
        assert pins == [["advisory_lock"]]
        assert metric(proxy, "swiftpool_transaction_pool_pinned_clients") == 1
        assert metric(proxy, 'swiftpool_transaction_pool_pins_total{reason="advisory_lock"}') == 1
        assert metric(proxy, 'swiftpool_client_pool_mode_sessions{pool_mode="transaction"}') == 2
        assert metric(proxy, 'swiftpool_client_pool_mode_sessions{pool_mode="session"}') == 1
        released.start()
        for i in range(3):
            assert preparing.execute("SELECT %s::int + 1", (i,)).fetchone()[0] == i + 1
        released.join()
        waited = metric(proxy, "swiftpool_transaction_pool_wait_seconds_count")
        assert waited >= 1, "the wait for the pinned connection was not recorded"
        assert metric(proxy, "swiftpool_transaction_pool_pinned_clients") == 0
        mine = [s for s in api(proxy, "/api/v1/sessions")["sessions"] if s["prepared_statements"] > 0]
        assert len(mine) == 1 and mine[0]["pool_mode"] == "transaction"
        assert metric(proxy, "swiftpool_transaction_pool_prepared_statements") >= 1
        assert metric(proxy, "swiftpool_transaction_pool_leases_total") >= 4
        pool = api(proxy, "/api/v1/pool")
        assert all(node["waiting"] == 0 for node in pool["nodes"])


def test_a_user_with_its_own_pool_size_waits_while_others_go_on(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=6, transaction_pool_timeout=1,
                             transaction_pool_size_list="app_readonly@*:1")
    reader = dict(user="app_readonly", password=USERS["app_readonly"])
    with proxy.connect(**reader) as first, proxy.connect(**reader) as second:
        first.execute("BEGIN")
        first.execute("SELECT 1")
        writers = [proxy.connect() for _ in range(3)]
        try:
            for writer in writers:
                writer.execute("BEGIN")
                writer.execute("SELECT 1")
            # Four of six connections: one for app_readonly (its limit), three for app_readwrite.
            assert len({pid(writer) for writer in writers} | {pid(first)}) == 4
            with pytest.raises(psycopg.OperationalError) as failed:
                second.execute("SELECT 2")
            assert failed.value.sqlstate == "53300"
        finally:
            for writer in writers:
                writer.close()
        first.execute("COMMIT")


def test_show_pool_pools_and_processes_show_connections_only_while_units_hold_them(swiftpool):
    proxy = transaction_mode(swiftpool, transaction_pool_size=2)

    def connected_pools(conn, application_pid: int) -> list[tuple[str, str]]:
        rows = conn.execute("SHOW POOL_POOLS").fetchall()
        columns = [c.name for c in conn.execute("SHOW POOL_POOLS").description]
        pid_at, node_at, connected_at = columns.index("pool_pid"), columns.index("backend_id"), columns.index("pool_connected")
        return [(row[node_at], row[connected_at]) for row in rows if int(row[pid_at]) == application_pid]

    with proxy.connect(application_name="tp-show") as worker, proxy.connect() as admin:
        sessions = api(proxy, "/api/v1/sessions")["sessions"]
        worker_id = next(s["id"] for s in sessions if s["application_name"] == "tp-show")
        assert ("0", "1") not in connected_pools(admin, worker_id)
        worker.execute("BEGIN")
        worker.execute("SELECT 1")
        assert ("0", "1") in connected_pools(admin, worker_id), "a unit of work holds a connection to the primary"
        processes = admin.execute("SHOW POOL_PROCESSES").fetchall()
        assert sum(1 for row in processes if row[3] == TEST_DB) >= 2
        worker.execute("COMMIT")
        assert ("0", "1") not in connected_pools(admin, worker_id), "between units the client holds nothing"


# --------------------------------------------------------------------------- places shared by the loops

def test_a_pool_size_below_the_event_loops_is_never_exceeded_and_every_loop_is_served(swiftpool, cluster):
    """One connection per node and two event loops: clients on both loops (they alternate as they
    connect) take turns with the one connection; the proxy never holds two."""
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, num_event_loops=2, transaction_pool_timeout=20)
    results: dict[int, list[int]] = {}
    errors: list[str] = []

    def client(number: int, conn) -> None:
        try:
            for n in range(8):
                value = conn.execute("SELECT %s::int * 7 FROM pg_sleep(0.05)", (number * 100 + n,)).fetchone()[0]
                conn.commit()
                results.setdefault(number, []).append(value)
        except Exception as e:  # reported below
            errors.append(f"client {number}: {type(e).__name__}: {e}")

    with BackendMonitor(cluster, proxy, limit=1) as monitor, connections(proxy, 4, autocommit=False) as conns:
        for t in started_threads(client, enumerate(conns)):
            t.join(60)
    monitor.check()
    assert not errors, errors
    assert results == {i: [(i * 100 + n) * 7 for n in range(8)] for i in range(4)}
    assert metric(proxy, "swiftpool_transaction_pool_places_moved_total") >= 1, \
        "clients of both loops ran, so the place moved between them"


def test_a_busy_event_loop_takes_the_places_another_loop_leaves_idle(swiftpool, cluster):
    """Four places and two event loops. Eight clients connect one after the other, so every other
    one is on the same loop; four of those run a transaction each at the same time. All four run
    together: once the other loop's connections have been idle for a second, they close and their
    places move over."""
    proxy = transaction_mode(swiftpool, transaction_pool_size=4, num_event_loops=2, transaction_pool_timeout=30)
    marker = f"tp_places_{os.getpid()}"
    errors: list[str] = []

    def busy(conn) -> None:
        try:
            conn.execute(f"SELECT '{marker}', pg_sleep(4)").fetchone()
            conn.commit()
        except Exception as e:  # reported below
            errors.append(f"{type(e).__name__}: {e}")

    def running() -> int:
        return int(scalar(cluster, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                   f"AND query LIKE '%{marker}%' AND query NOT LIKE '%pg_stat_activity%'",
                          port=cluster.primary_port()))

    with BackendMonitor(cluster, proxy, limit=4) as monitor, connections(proxy, 8, autocommit=False) as conns:
        # Every client has used a connection; the loops keep them idle.
        for conn in conns:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
            conn.commit()
        threads = started_threads(busy, [(conn,) for conn in conns[0::2]])
        most = most_at_once(running, want=4, within=3.8)
        for t in threads:
            t.join(30)
    monitor.check()
    assert not errors, errors
    assert most == 4, f"only {most} of the loop's four transactions ran at once"


def pooled_connections(cluster, proxy, port: int) -> int:
    """The proxy's connections to the node at `port` that app_readwrite's clients use (the
    proxy's health and replication checks log in as another user)."""
    sockets = proxy_backend_sockets(proxy.pid, [port])[port]
    rows = cluster.query("SELECT client_port FROM pg_stat_activity WHERE backend_type = 'client backend' "
                         f"AND usename = 'app_readwrite' AND datname = '{TEST_DB}'", port=port)
    return sum(1 for (client_port,) in rows if int(client_port) in sockets)


def test_a_reloaded_pool_size_is_shared_by_the_loops(swiftpool, cluster):
    """Raised by a reload, transaction_pool_size lets sessions that wait on either loop run at
    once; lowered, the loops close what they hold above it."""
    proxy = transaction_mode(swiftpool, transaction_pool_size=1, num_event_loops=2, transaction_pool_timeout=30)
    primary = cluster.primary_port()
    marker = f"tp_reload_{os.getpid()}"
    errors: list[str] = []

    def busy(conn) -> None:
        try:
            conn.execute(f"SELECT '{marker}', pg_sleep(2)").fetchone()
        except Exception as e:  # reported below
            errors.append(f"{type(e).__name__}: {e}")

    def running() -> int:
        return int(scalar(cluster, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                   f"AND query LIKE '%{marker}%' AND query NOT LIKE '%pg_stat_activity%'", port=primary))

    def reload_with(size: int) -> None:
        with open(proxy.conf_path, "a") as conf:
            conf.write(f"transaction_pool_size = {size}\n")
        proxy.reload()
        deadline = time.monotonic() + 20
        while api(proxy, "/api/v1/config")["parameters"]["transaction_pool_size"] != str(size):
            assert time.monotonic() < deadline, "the reload was not applied"
            time.sleep(0.05)

    conns = [proxy.connect() for _ in range(4)]
    try:
        holder = conns[0]
        holder.execute("BEGIN")
        holder.execute("SELECT 1")
        threads = started_threads(busy, [(conn,) for conn in conns[1:]])
        deadline = time.monotonic() + 10
        while sum(node["waiting"] for node in api(proxy, "/api/v1/pool")["nodes"]) < 3:
            assert time.monotonic() < deadline, "the three clients never waited"
            time.sleep(0.05)
        reload_with(4)
        most = most_at_once(running, want=3, within=1.8)
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert most == 3, f"only {most} of the three waiting clients ran at once after the reload"
        holder.execute("COMMIT")
        assert pooled_connections(cluster, proxy, primary) == 4

        reload_with(1)
        deadline = time.monotonic() + 10
        while pooled_connections(cluster, proxy, primary) > 1:
            assert time.monotonic() < deadline, "the loops kept their connections above the lowered size"
            time.sleep(0.1)
        with BackendMonitor(cluster, proxy, limit=1) as monitor:
            for round_number in range(3):
                for number, conn in enumerate(conns):
                    assert conn.execute("SELECT %s::int + 1", (round_number * 10 + number,)).fetchone()[0] \
                        == round_number * 10 + number + 1
        monitor.check()
    finally:
        for conn in conns:
            conn.close()
