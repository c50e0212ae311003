"""Session pooling like Pgpool-II's connection cache, capacity limits and clean shutdown."""
from __future__ import annotations

import asyncio
import signal
import time

import asyncpg
import psycopg
import pytest
import requests

from conftest import USERS


def backend_pid_via(proxy, **kwargs):
    with proxy.connect(**kwargs) as conn:
        return conn.info.backend_pid, conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_backend_connection_is_reused_with_fresh_key(swiftpool):
    proxy = swiftpool({"connection_cache": True, "num_event_loops": 1})
    key1, backend1 = backend_pid_via(proxy)
    proxy.wait_for_idle_backends()
    key2, backend2 = backend_pid_via(proxy)
    assert backend1 == backend2, "the cached backend connection was not reused"
    assert key1 != key2, "a reused connection must give the client fresh BackendKeyData"


def test_reused_connection_is_reset(swiftpool):
    proxy = swiftpool({"num_event_loops": 1})
    with proxy.connect() as conn:
        conn.execute("CREATE TEMP TABLE leftover(x int)")
        conn.execute("SET work_mem = '7MB'")
        conn.execute("PREPARE leftover_stmt AS SELECT 1")
        first = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    proxy.wait_for_idle_backends()
    with proxy.connect() as conn:
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == first
        assert conn.execute("SHOW work_mem").fetchone()[0] != "7MB"
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'leftover'").fetchone()[0] == 0


def test_open_transaction_is_aborted_before_reuse(swiftpool):
    proxy = swiftpool({"num_event_loops": 1})
    conn = proxy.connect(autocommit=False)
    conn.execute("CREATE TEMP TABLE t_abort(x int)")  # opens a transaction
    conn.close()  # sends Terminate while the transaction is open
    with proxy.connect() as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_different_startup_parameters_get_different_connections(swiftpool):
    proxy = swiftpool({"num_event_loops": 1})
    _, a = backend_pid_via(proxy, application_name="app-a")
    proxy.wait_for_idle_backends(1)
    _, b = backend_pid_via(proxy, application_name="app-b")
    proxy.wait_for_idle_backends(2)
    _, a_again = backend_pid_via(proxy, application_name="app-a")
    assert a != b
    assert a == a_again
    with proxy.connect(application_name="app-b") as conn:
        # ParameterStatus replayed on reuse matches the client's own startup parameters.
        assert conn.info.parameter_status("application_name") == "app-b"
        assert conn.info.parameter_status("server_version")


def test_connection_cache_off_closes_backends(swiftpool):
    proxy = swiftpool({"connection_cache": False, "num_event_loops": 1})
    _, first = backend_pid_via(proxy)
    _, second = backend_pid_via(proxy)
    assert first != second


def test_connection_life_time_retires_idle_backends(swiftpool):
    proxy = swiftpool({"connection_life_time": 1, "num_event_loops": 1})
    _, first = backend_pid_via(proxy)
    time.sleep(2.5)
    _, second = backend_pid_via(proxy)
    assert first != second


def test_client_idle_limit_disconnects_idle_clients(swiftpool):
    proxy = swiftpool({"client_idle_limit": 1})
    with proxy.connect() as conn:
        conn.execute("SELECT 1")
        time.sleep(2.5)
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")


def test_over_capacity_clients_wait_then_get_53300(swiftpool):
    """num_init_children + 8 clients: every client is served or refused with 53300 within the
    bound; none hangs."""
    children = 4
    proxy = swiftpool({"num_init_children": children, "client_wait_timeout": 2, "max_pool": 1})

    async def client(i):
        try:
            conn = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                         password=USERS["app_readwrite"], database="swiftpool_test", timeout=30)
        except asyncpg.PostgresError as e:
            return ("refused", e.sqlstate)
        try:
            await conn.execute("SELECT pg_sleep(4)")
            return ("served", None)
        finally:
            await conn.close()

    async def run_all():
        start = time.monotonic()
        results = await asyncio.gather(*(client(i) for i in range(children + 8)))
        return results, time.monotonic() - start

    results, elapsed = asyncio.run(run_all())
    served = [r for r in results if r[0] == "served"]
    refused = [r for r in results if r[0] == "refused"]
    assert len(served) + len(refused) == children + 8
    assert len(served) >= children
    assert refused, "clients beyond capacity should have been refused after the wait bound"
    assert all(code == "53300" for _, code in refused)
    assert elapsed < 20, f"took {elapsed:.1f}s"
    # Waiters are served when a slot frees within the bound.
    log = proxy.log()
    assert "too many" in log or "slots" in log


def test_waiting_client_gets_a_freed_slot(swiftpool):
    proxy = swiftpool({"num_init_children": 1, "client_wait_timeout": 10})

    async def scenario():
        first = await asyncpg.connect(host="127.0.0.1", port=proxy.port, user="app_readwrite",
                                      password=USERS["app_readwrite"], database="swiftpool_test")
        second_task = asyncio.create_task(asyncpg.connect(
            host="127.0.0.1", port=proxy.port, user="app_readwrite",
            password=USERS["app_readwrite"], database="swiftpool_test", timeout=20))
        # The second client waits for the only slot (the metrics see it), and is not served.
        url = f"http://127.0.0.1:{proxy.http_port}/metrics"
        deadline = time.monotonic() + 10
        while 'swiftpool_client_connections{state="waiting"} 1' not in requests.get(url, timeout=10).text:
            assert time.monotonic() < deadline, "the second client never waited for a slot"
            await asyncio.sleep(0.05)
        assert not second_task.done()
        await first.close()
        second = await second_task
        value = await second.fetchval("SELECT 7")
        await second.close()
        return value

    assert asyncio.run(scenario()) == 7


def test_reserved_connections_refuse_at_once(swiftpool):
    proxy = swiftpool({"num_init_children": 2, "reserved_connections": 1})
    with proxy.connect():
        start = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as info:
            proxy.connect()
        assert time.monotonic() - start < 3
        assert "too many clients" in str(info.value)


def test_clean_shutdown_leaves_no_backend_connection(swiftpool, cluster):
    proxy = swiftpool()
    for _ in range(3):
        with proxy.connect(application_name="shutdown-check") as conn:
            conn.execute("SELECT 1")
    busy = proxy.connect(application_name="shutdown-check")
    busy.execute("SELECT 1")
    count_sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shutdown-check'"
    assert int(cluster.query(count_sql)[0][0]) >= 1
    rc = proxy.stop(signal.SIGINT)  # fast shutdown: the open session is ended too
    assert rc == 0
    busy.close()
    deadline = time.monotonic() + 5
    while int(cluster.query(count_sql)[0][0]) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster.query(count_sql)[0][0] == "0"


def test_smart_shutdown_waits_for_clients(swiftpool):
    proxy = swiftpool()
    conn = proxy.connect()
    proxy.send_signal(signal.SIGTERM)
    time.sleep(1)
    assert proxy.is_running(), "smart shutdown must wait for connected clients"
    assert conn.execute("SELECT 'still served'").fetchone() == ("still served",)
    conn.close()
    assert proxy.wait_exit(10) == 0


def test_each_event_loop_keeps_its_own_cache(swiftpool):
    """With N event loops, sequential sessions use at most N backend connections."""
    proxy = swiftpool({"num_event_loops": 2})
    backends = set()
    for _ in range(12):
        backends.add(backend_pid_via(proxy)[1])
        proxy.wait_for_idle_backends(len(backends))
    assert 1 <= len(backends) <= 2
