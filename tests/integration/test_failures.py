"""Bad input and dead backends: clear errors, nothing lost, nobody else disturbed."""
from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import subprocess
import threading
import time

import asyncpg
import psycopg
import pytest
import requests

from conftest import TEST_DB, USERS, auth_sqlstate, free_port, psql


def read_messages(sock, timeout=5.0):
    """Reads backend messages until the socket closes; returns [(type, body)]."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    messages = []
    while len(data) >= 5:
        kind = data[:1]
        length = struct.unpack("!i", data[1:5])[0]
        messages.append((kind, data[5:1 + length]))
        data = data[1 + length:]
    return messages


def error_fields(body: bytes) -> dict[str, str]:
    fields = {}
    for part in body.split(b"\x00"):
        if part:
            fields[chr(part[0])] = part[1:].decode()
    return fields


def startup_packet(user="app_readwrite", database="swiftpool_test"):
    params = b"user\x00" + user.encode() + b"\x00database\x00" + database.encode() + b"\x00\x00"
    return struct.pack("!ii", 8 + len(params), 196608) + params


def test_garbage_startup_gets_08P01(swiftpool):
    proxy = swiftpool()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(struct.pack("!i", 3) + b"xxxxxxxx")
        messages = read_messages(s)
    assert messages and messages[0][0] == b"E"
    fields = error_fields(messages[0][1])
    assert fields["C"] == "08P01" and fields["S"] == "FATAL"


def test_unsupported_protocol_version(swiftpool):
    proxy = swiftpool()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(struct.pack("!ii", 8, 2 << 16))
        messages = read_messages(s)
    assert error_fields(messages[0][1])["C"] == "0A000"


def test_oversized_message_after_login_gets_08P01(swiftpool):
    proxy = swiftpool({"enable_pool_hba": True}, pool_hba="host all all 127.0.0.1/32 trust\n")
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(startup_packet())
        s.settimeout(5)
        buf = b""
        while b"Z\x00\x00\x00\x05I" not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed during login"
            buf += chunk
        # A Query claiming to be 2 GiB long.
        s.sendall(b"Q" + struct.pack("!I", 0x7FFFFFF0))
        messages = read_messages(s)
    errors = [error_fields(body) for kind, body in messages if kind == b"E"]
    assert errors and errors[-1]["C"] == "08P01"
    # The proxy is still fine.
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None


def test_unreachable_backend_names_the_node(swiftpool):
    dead = free_port()  # nothing listens there
    proxy = swiftpool({f"backend_port{i}": dead for i in range(4)})
    result = psql(proxy.port, "app_readwrite", "readwrite456", "swiftpool_test", "SELECT 1")
    assert result.returncode != 0
    assert f"backend node 0 (127.0.0.1:{dead})" in result.stderr
    assert "Connection refused" in result.stderr and "SingleConnectionFailure" not in result.stderr, result.stderr
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") == "08006"


def test_backend_killed_mid_session_ends_only_that_session(swiftpool, cluster):
    proxy = swiftpool()
    with proxy.connect() as victim, proxy.connect() as bystander:
        backend_pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert cluster.sql(f"SELECT pg_terminate_backend({backend_pid})").stdout.strip() == "t"
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert bystander.execute("SELECT 'still here'").fetchone() == ("still here",)
    # New sessions work.
    assert proxy.psql("SELECT 2", check=True).stdout.strip() == "2"


def _idle_raw_session(proxy):
    """A raw-socket session (trust) that ran one query and read its whole reply; returns the
    socket and the backend's pid."""
    s = socket.create_connection(("127.0.0.1", proxy.port))
    s.settimeout(5)
    s.sendall(startup_packet())
    buf = b""
    while not buf.endswith(b"Z\x00\x00\x00\x05I"):
        chunk = s.recv(65536)
        assert chunk, "connection closed during login"
        buf += chunk
    s.sendall(b"Q" + struct.pack("!i", 4 + len(b"SELECT pg_backend_pid()\x00")) + b"SELECT pg_backend_pid()\x00")
    buf = b""
    while not buf.endswith(b"Z\x00\x00\x00\x05I"):
        chunk = s.recv(65536)
        assert chunk, "connection closed during the query"
        buf += chunk
    row = buf[buf.index(b"D"):]
    length = struct.unpack("!i", row[7:11])[0]
    return s, int(row[11:11 + length])


def _wait_for_log(proxy, text, count=1, timeout=10.0):
    deadline = time.monotonic() + timeout
    while proxy.log().count(text) < count:
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{proxy.log()[-3000:]}"
        time.sleep(0.05)


def test_an_idle_session_whose_backend_died_answers_the_next_query_with_the_fatal(swiftpool, cluster):
    """A FATAL sent the moment an idle session's backend dies can arrive right behind the
    previous reply; libpq then reads it as an idle notice and the next query fails without a
    SQLSTATE. SwiftPool keeps it until the client asks something."""
    proxy = swiftpool({"enable_pool_hba": True}, pool_hba="host all all 127.0.0.1/32 trust\n")
    s, backend_pid = _idle_raw_session(proxy)
    with s:
        assert cluster.sql(f"SELECT pg_terminate_backend({backend_pid})").stdout.strip() == "t"
        _wait_for_log(proxy, "backend connection lost")
        # SwiftPool has handled the loss (it logged it): nothing may have been sent yet.
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recv(65536)
        s.setblocking(True)
        s.sendall(b"Q" + struct.pack("!i", 4 + len(b"SELECT 1\x00")) + b"SELECT 1\x00")
        messages = read_messages(s)
    errors = [error_fields(body) for kind, body in messages if kind == b"E"]
    assert errors and errors[-1]["S"] == "FATAL" and errors[-1]["C"] in ("57P01", "08006"), messages
    assert proxy.psql("SELECT 2", check=True).stdout.strip() == "2"


def test_an_idle_client_still_gets_the_fatal_when_it_asks_nothing(swiftpool, cluster):
    proxy = swiftpool({"enable_pool_hba": True}, pool_hba="host all all 127.0.0.1/32 trust\n")
    s, backend_pid = _idle_raw_session(proxy)
    with s:
        assert cluster.sql(f"SELECT pg_terminate_backend({backend_pid})").stdout.strip() == "t"
        messages = read_messages(s, timeout=10)   # until SwiftPool closes its side
    errors = [error_fields(body) for kind, body in messages if kind == b"E"]
    assert errors and errors[-1]["S"] == "FATAL" and errors[-1]["C"] in ("57P01", "08006"), messages


def test_a_client_writing_as_its_session_ends_still_reads_the_fatal(swiftpool, cluster):
    """psycopg: the backend of an idle session goes away; the next query gets the FATAL with
    its SQLSTATE, not "server closed the connection unexpectedly"."""
    proxy = swiftpool()
    with proxy.connect(autocommit=True) as victim:
        backend_pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert cluster.sql(f"SELECT pg_terminate_backend({backend_pid})").stdout.strip() == "t"
        _wait_for_log(proxy, "backend connection lost")
        with pytest.raises(psycopg.OperationalError) as raised:
            victim.execute("SELECT 1")
    assert raised.value.sqlstate in ("57P01", "08006"), f"{raised.value!r} (sqlstate {raised.value.sqlstate})"


def test_a_client_copying_in_as_its_session_ends_reads_the_fatal_when_its_copy_ends(swiftpool, cluster):
    """psycopg streams COPY FROM STDIN and the session's backend goes away mid-copy. As
    PostgreSQL does after a COPY error, SwiftPool discards the rest of the copy and fails its
    end, then the next query gets the FATAL: SQLSTATEs, never a reset ("consuming input failed")."""
    cluster.sql("DROP TABLE IF EXISTS copy_cut; CREATE TABLE copy_cut (n int, pad text); "
                "GRANT ALL ON copy_cut TO PUBLIC", db=TEST_DB)
    proxy = swiftpool()
    pad = "x" * 1000
    with proxy.connect(autocommit=True) as victim:
        backend_pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
        started = None
        with pytest.raises(psycopg.OperationalError) as raised:
            with victim.cursor().copy("COPY copy_cut FROM STDIN") as copy:
                for n in range(50000):
                    copy.write_row((n, pad))
                    if n == 2000:
                        assert cluster.sql(f"SELECT pg_terminate_backend({backend_pid})").stdout.strip() == "t"
                        started = time.monotonic()
                    elif started and n % 1000 == 0:
                        time.sleep(0.05)   # a source slower than the network
        copied_after_the_loss = time.monotonic() - started
        assert raised.value.sqlstate in ("57P01", "08006"), f"{raised.value!r} (sqlstate {raised.value.sqlstate})"
        # Then the FATAL answers the next query.
        with pytest.raises(psycopg.OperationalError) as fatal:
            victim.execute("SELECT 1")
        assert fatal.value.sqlstate in ("57P01", "08006"), f"{fatal.value!r} (sqlstate {fatal.value.sqlstate})"
    # The copy went on well beyond the one second SwiftPool lingers after other FATALs.
    assert copied_after_the_loss > 1.0, copied_after_the_loss
    assert cluster.query("SELECT count(*) FROM copy_cut", db=TEST_DB) == [["0"]]
    assert proxy.psql("SELECT 2", check=True).stdout.strip() == "2"
    cluster.sql("DROP TABLE copy_cut", db=TEST_DB)


def test_an_asyncpg_copy_cut_off_by_its_backend_fails_with_a_sqlstate(swiftpool, cluster):
    """The same with asyncpg, whose copy is extended-protocol (CopyDone then Sync)."""
    cluster.sql("DROP TABLE IF EXISTS copy_cut_async; CREATE TABLE copy_cut_async (n int, pad text); "
                "GRANT ALL ON copy_cut_async TO PUBLIC", db=TEST_DB)
    proxy = swiftpool()

    async def scenario():
        conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database=TEST_DB)
        pid = await conn.fetchval("SELECT pg_backend_pid()")

        async def rows():
            for n in range(30):
                if n == 5:
                    await asyncio.to_thread(cluster.sql, f"SELECT pg_terminate_backend({pid})")
                yield f"{n}\t{'x' * 1000}\n".encode()
                await asyncio.sleep(0.05)

        with pytest.raises(asyncpg.PostgresError) as copy_error:
            await conn.copy_to_table("copy_cut_async", source=rows())
        with pytest.raises(asyncpg.PostgresError) as next_error:
            await conn.fetchval("SELECT 1")
        await conn.close()
        return copy_error.value.sqlstate, next_error.value.sqlstate

    copy_state, next_state = asyncio.run(scenario())
    assert copy_state in ("57P01", "08006"), copy_state
    # asyncpg names a FATAL that ends its Parse exchange "connection does not exist" (08003);
    # straight from PostgreSQL it would be an InterfaceError without a SQLSTATE.
    assert next_state in ("57P01", "08006", "08003"), next_state
    assert cluster.query("SELECT count(*) FROM copy_cut_async", db=TEST_DB) == [["0"]]
    cluster.sql("DROP TABLE copy_cut_async", db=TEST_DB)


def test_a_result_being_streamed_as_its_session_ends_ends_with_the_fatal(swiftpool, cluster):
    """The primary is detached while a large COPY TO STDOUT streams to a slow client. SwiftPool
    forwards the message it had begun, then the FATAL: the client reads a SQLSTATE, never a
    message cut in half and a reset ("consuming input failed: server closed the connection")."""
    proxy = swiftpool()
    detach = f"http://127.0.0.1:{proxy.http_port}/api/v1/nodes/0/detach"
    with proxy.connect(autocommit=True) as victim:
        received = 0
        detached = False
        with pytest.raises(psycopg.OperationalError) as raised:
            with victim.cursor().copy("COPY (SELECT g, repeat('x', 2000) FROM generate_series(1, 200000) g) "
                                      "TO STDOUT") as copy:
                for data in copy:
                    received += len(data)
                    if received > 2_000_000 and not detached:
                        response = requests.post(detach, auth=("pcpadmin", "pcpadminpass"),
                                                 headers={"X-SwiftPool-Client": "tests"}, timeout=10)
                        assert response.status_code == 200, response.text
                        detached = True
                    time.sleep(0.0005)  # a consumer slower than the server: output backs up
        assert raised.value.sqlstate == "57P01", f"{raised.value!r} (sqlstate {raised.value.sqlstate})"
        assert received < 400_000_000, "the copy was not cut off"


def test_client_vanishing_mid_transaction_releases_locks(swiftpool, cluster):
    proxy = swiftpool()
    with proxy.connect() as setup:
        setup.execute("DROP TABLE IF EXISTS vanish_lock")
        setup.execute("CREATE TABLE vanish_lock (id int primary key)")
        setup.execute("INSERT INTO vanish_lock VALUES (1)")
    # psql holds a row lock inside a transaction, then dies without a Terminate message.
    env = {**os.environ, "PGPASSWORD": USERS["app_readwrite"]}
    holder = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(proxy.port), "-U", "app_readwrite",
                               "-d", "swiftpool_test"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env, text=True)
    holder.stdin.write("BEGIN;\nUPDATE vanish_lock SET id = 1 WHERE id = 1;\n\\echo locked\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() in ("BEGIN",)
    assert holder.stdout.readline().strip() == "UPDATE 1"
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    time.sleep(0.5)
    with proxy.connect() as other:
        other.execute("SET lock_timeout = '5s'")
        other.execute("UPDATE vanish_lock SET id = 1 WHERE id = 1")
        other.execute("DROP TABLE vanish_lock")
    # Nothing is left idle in transaction on the backend.
    left = cluster.query("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND usename = 'app_readwrite'")
    assert left[0][0] == "0"


def test_one_slow_client_does_not_block_others(swiftpool):
    proxy = swiftpool()
    with socket.create_connection(("127.0.0.1", proxy.port)) as silent:
        silent.sendall(struct.pack("!i", 200))  # a startup packet that never completes
        start = time.monotonic()
        for _ in range(5):
            assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"
        assert time.monotonic() - start < 20


def test_newer_protocol_minor_is_negotiated_down(swiftpool):
    """A client asking for protocol 3.2 and a _pq_ option is told 3.0 and logs in."""
    proxy = swiftpool({"enable_pool_hba": True}, pool_hba="host all all 127.0.0.1/32 trust\n")
    params = b"user\x00app_readwrite\x00database\x00swiftpool_test\x00_pq_.test_option\x00x\x00\x00"
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(struct.pack("!ii", 8 + len(params), (3 << 16) | 2) + params)
        s.settimeout(5)
        buf = b""
        while b"Z\x00\x00\x00\x05I" not in buf:
            chunk = s.recv(65536)
            assert chunk, f"closed during login: {buf!r}"
            buf += chunk
        assert buf[:1] == b"v"
        length = struct.unpack("!i", buf[1:5])[0]
        newest, count = struct.unpack("!ii", buf[5:13])
        assert (newest, count) == (0, 1)
        assert buf[13:1 + length].rstrip(b"\x00") == b"_pq_.test_option"
        s.sendall(b"X\x00\x00\x00\x04")


def test_client_leaving_mid_copy_leaves_a_clean_reusable_connection(swiftpool, cluster):
    proxy = swiftpool({"num_event_loops": 1})
    with proxy.connect() as setup:
        setup.execute("DROP TABLE IF EXISTS copy_abandon")
        setup.execute("CREATE TABLE copy_abandon (id int)")
        first_backend = setup.execute("SELECT pg_backend_pid()").fetchone()[0]
    env = {**os.environ, "PGPASSWORD": USERS["app_readwrite"]}
    holder = subprocess.Popen(["psql", "-X", "-h", "127.0.0.1", "-p", str(proxy.port), "-U", "app_readwrite",
                               "-d", "swiftpool_test", "-c", "COPY copy_abandon FROM STDIN"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    holder.stdin.write(b"1\n2\n3\n")
    holder.stdin.flush()
    time.sleep(1)
    holder.kill()
    holder.wait()
    proxy.wait_for_idle_backends()
    with proxy.connect() as conn:
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == first_backend
        assert conn.execute("SELECT count(*) FROM copy_abandon").fetchone()[0] == 0
        conn.execute("DROP TABLE copy_abandon")


def test_zero_authentication_timeout_means_no_limit(swiftpool):
    proxy = swiftpool({"authentication_timeout": 0})
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None


def test_silent_connections_are_capped_and_refused_at_once(swiftpool):
    """Sockets that never send a startup packet count against num_init_children ×
    listen_backlog_multiplier; one more is refused at once with 53300, and logins work again as
    soon as they go."""
    proxy = swiftpool({"num_init_children": 3, "listen_backlog_multiplier": 2, "authentication_timeout": 60})
    silent = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(6)]
    try:
        metrics = f"http://127.0.0.1:{proxy.http_port}/metrics"
        deadline = time.monotonic() + 10
        while 'swiftpool_client_connections{state="starting"} 6' not in requests.get(metrics, timeout=10).text:
            assert time.monotonic() < deadline, "the silent sockets were not all accepted"
            time.sleep(0.05)
        start = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(proxy.dsn(), connect_timeout=10)
        assert "sorry, too many clients already" in str(refused.value)
        assert "listen_backlog_multiplier" in str(refused.value)
        assert time.monotonic() - start < 3
        assert auth_sqlstate(proxy.port, "app_readwrite", USERS["app_readwrite"]) == "53300"
        assert "too many connections wait for a slot" in proxy.log()
    finally:
        for s in silent:
            s.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            with proxy.connect() as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            break
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "logins stayed refused after the silent sockets closed"
            time.sleep(0.1)
    assert re.search(r'swiftpool_client_connections_rejected_total\{reason="too_many_clients"\} [1-9]',
                     requests.get(metrics, timeout=10).text)
