"""Everything a client can do directly must work through SwiftPool (simple and extended
protocol, COPY, cancel, errors, large results)."""
from __future__ import annotations

import io
import threading
import time

import psycopg
import pytest

from conftest import USERS, TEST_DB


@pytest.fixture
def proxy(swiftpool):
    return swiftpool()


def test_psql_simple_query_reaches_the_primary(proxy, cluster):
    out = proxy.psql("SELECT pg_is_in_recovery(), current_setting('port')", check=True).stdout.strip()
    assert out == f"f|{cluster.primary_port()}"


def test_multi_statement_query_returns_every_result(proxy):
    with proxy.connect() as conn:
        cur = conn.execute("CREATE TEMP TABLE ms(x int); INSERT INTO ms VALUES (1),(2); SELECT sum(x) FROM ms")
        statuses = [cur.statusmessage]
        while cur.nextset():
            statuses.append(cur.statusmessage)
        assert statuses == ["CREATE TABLE", "INSERT 0 2", "SELECT 1"]
        assert cur.fetchone() == (3,)
    out = proxy.psql("SELECT 1; SELECT 2; SELECT 'three'", check=True).stdout.split()
    assert out == ["1", "2", "three"]


def test_error_then_recovery_in_the_same_session(proxy):
    with proxy.connect(autocommit=False) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1/0")
        conn.rollback()
        assert conn.execute("SELECT 42").fetchone() == (42,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_table")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.rollback()
        assert conn.execute("SELECT 'ok'").fetchone() == ("ok",)


def test_prepared_statements_and_extended_protocol(proxy):
    with proxy.connect() as conn:
        for i in range(10):
            # prepare=True makes psycopg use a named server-side statement (Parse once, Bind many).
            row = conn.execute("SELECT %s::int * 2, %s::text", (i, f"v{i}"), prepare=True).fetchone()
            assert row == (i * 2, f"v{i}")
        prepared = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
        assert prepared >= 1
        conn.execute("PREPARE p1(int) AS SELECT $1 + 1")
        assert conn.execute("EXECUTE p1(41)").fetchone() == (42,)
        conn.execute("DEALLOCATE p1")


def test_pipelined_extended_queries(proxy):
    with proxy.connect() as conn:
        with conn.pipeline():
            cursors = [conn.execute("SELECT %s::int", (i,)) for i in range(50)]
        assert [c.fetchone()[0] for c in cursors] == list(range(50))


def test_copy_in_and_out(proxy):
    with proxy.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS copy_test")
        conn.execute("CREATE TABLE copy_test (id int, name text)")
        rows = [(i, f"name-{i}") for i in range(20000)]
        with conn.cursor().copy("COPY copy_test FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        assert conn.execute("SELECT count(*), sum(id) FROM copy_test").fetchone() == (20000, sum(range(20000)))
        out = io.BytesIO()
        with conn.cursor().copy("COPY (SELECT * FROM copy_test ORDER BY id) TO STDOUT") as copy:
            for chunk in copy:
                out.write(chunk)
        lines = out.getvalue().decode().splitlines()
        assert len(lines) == 20000 and lines[0] == "0\tname-0" and lines[-1] == "19999\tname-19999"
        conn.execute("DROP TABLE copy_test")


def test_copy_in_error_keeps_session_usable(proxy):
    with proxy.connect() as conn:
        conn.execute("CREATE TEMP TABLE ci (id int)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            with conn.cursor().copy("COPY ci FROM STDIN") as copy:
                copy.write(b"1\nnot-a-number\n")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_psql_copy_from_stdin(proxy, tmp_path):
    data = tmp_path / "rows.csv"
    data.write_text("".join(f"{i},row{i}\n" for i in range(1000)))
    script = ("CREATE TEMP TABLE pc(id int, t text);\n"
              f"\\copy pc FROM '{data}' WITH (FORMAT csv)\n"
              "SELECT count(*) FROM pc;\n")
    sql = tmp_path / "copy.sql"
    sql.write_text(script)
    out = proxy.psql("SELECT 1", extra_args=["-f", str(sql)], check=True).stdout
    assert "1000" in out.split()


def test_cancel_reaches_the_backend(proxy):
    with proxy.connect() as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        start = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(20)")
        assert time.monotonic() - start < 10
        assert conn.execute("SELECT 'after cancel'").fetchone() == ("after cancel",)


def test_cancel_with_a_foreign_key_is_ignored(proxy):
    """A CancelRequest with a key SwiftPool never issued must not cancel anybody."""
    import socket
    import struct
    with proxy.connect() as conn:
        def bogus_cancel():
            with socket.create_connection(("127.0.0.1", proxy.port)) as s:
                s.sendall(struct.pack("!iiii", 16, 80877102, 999999, 12345))
        t = threading.Timer(0.3, bogus_cancel)
        t.start()
        assert conn.execute("SELECT pg_sleep(1), 'done'").fetchone()[1] == "done"
        t.join()


def test_100mb_result(proxy):
    with proxy.connect() as conn:
        cur = conn.execute("SELECT repeat('x', 1000) FROM generate_series(1, 105000)")
        total = 0
        count = 0
        for (value,) in cur:
            total += len(value)
            count += 1
        assert count == 105000 and total == 105_000_000


def test_function_call_notices_and_notifications(proxy):
    notices = []
    with proxy.connect() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$")
        assert notices == ["hello from plpgsql"]
        conn.execute("LISTEN swiftpool_chan")
        conn.execute("NOTIFY swiftpool_chan, 'payload-1'")
        got = list(conn.notifies(timeout=5, stop_after=1))
        assert got and got[0].payload == "payload-1"
        # ParameterStatus is relayed when a reported setting changes.
        conn.execute("SET application_name = 'changed-by-test'")
        assert conn.info.parameter_status("application_name") == "changed-by-test"


def test_libpq_fastpath_function_call(proxy, cluster):
    """FunctionCall ('F') messages: lo_* functions use libpq's fast path."""
    out = proxy.psql("SELECT 1", extra_args=["-c", "\\lo_import /etc/hostname", "-c", "SELECT count(*) > 0 FROM pg_largeobject_metadata"],
                     user="postgres", db="postgres", check=True).stdout
    assert "lo_import" in out and "t" in out.split()
    proxy.psql("SELECT lo_unlink(oid) FROM pg_largeobject_metadata", user="postgres", db="postgres", check=True)
