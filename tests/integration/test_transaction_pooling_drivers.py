"""Transaction pooling with real drivers that use protocol-level named prepared statements:
asyncpg (its statement cache and explicit prepare()), psycopg 3 (prepare_threshold=0), pgjdbc
(prepareThreshold=1), node-postgres named queries and `pgbench -M prepared`.

The driver tests run their clients over many transactions twice: alone, then while other
clients churn the pool (short psycopg transactions on new connections). They check every result
the driver returns, and sample pg_stat_activity throughout: the proxy's backend connections
never exceed transaction_pool_size on any node. There are more clients than backend
connections, so statements run on backend connections other than the one that first prepared
them. Further tests follow patterns of single drivers: asyncpg statements prepared before they
are used, psycopg clients idle after pipeline mode, and psycopg's rollback in pipeline mode."""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from conftest import DRIVERS_DIR, HOST, TEST_DB, USERS
from test_clients import pgbench, pgbench_db, processed  # noqa: F401  (pgbench_db is a fixture)

POOL_SIZE = 4
TX_PARAMS = {"pool_mode": "transaction", "transaction_pool_size": POOL_SIZE, "num_event_loops": 2,
             "num_init_children": 200}
USER = "app_readwrite"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")


def start_proxy(swiftpool, **overrides):
    return swiftpool({**TX_PARAMS, **overrides})


# --------------------------------------------------------------------------- backend connections

def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def proxy_backend_sockets(pid: int, backend_ports: list[int]) -> dict[int, set[int]]:
    """backend port -> local ports of the proxy's established TCP connections to it."""
    inodes = _socket_inodes(pid)
    out: dict[int, set[int]] = {p: set() for p in backend_ports}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[3] != "01" or f[9] not in inodes:
                continue
            local_port = int(f[1].rsplit(":", 1)[1], 16)
            remote_port = int(f[2].rsplit(":", 1)[1], 16)
            if remote_port in out:
                out[remote_port].add(local_port)
    return out


class BackendMonitor:
    """Samples, every `interval` seconds, each node's pg_stat_activity: the client backends of
    the pooled user whose client port is one of the proxy's sockets to that node (the proxy's
    health and replication checks log in as another user and are not counted)."""

    def __init__(self, cluster, proxy, limit: int = POOL_SIZE, interval: float = 0.05):
        self.cluster = cluster
        self.proxy = proxy
        self.limit = limit
        self.interval = interval
        self.primary = cluster.primary_port()
        self.ports = cluster.ports
        self.max_per_node = {p: 0 for p in self.ports}
        self.pids: set[int] = set()
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._first_sample = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-monitor", daemon=True)

    def _sample(self, conns) -> None:
        sockets = proxy_backend_sockets(self.proxy.pid, self.ports)
        for port, conn in conns.items():
            rows = conn.execute(
                "SELECT client_port, pid FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND client_port IS NOT NULL "
                "AND usename = %s AND datname = %s", (USER, TEST_DB)).fetchall()
            mine = [pid for (client_port, pid) in rows if client_port in sockets[port]]
            self.max_per_node[port] = max(self.max_per_node[port], len(mine))
            if port == self.primary:
                self.pids.update(mine)
        self.samples += 1

    def _run(self) -> None:
        conns = {}
        try:
            for port in self.ports:
                conns[port] = psycopg.connect(self.cluster.dsn(port), autocommit=True, connect_timeout=10)
            while not self._stop.is_set():
                self._sample(conns)
                self._first_sample.set()
                self._stop.wait(self.interval)
            self._sample(conns)
        except Exception as e:  # reported by check()
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self._first_sample.set()
            for conn in conns.values():
                conn.close()

    def __enter__(self) -> "BackendMonitor":
        self._thread.start()
        # Clients start only once the monitor is connected and sampling: a quick test would
        # otherwise be over before the monitor's first look.
        self._first_sample.wait(15)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)

    def check(self) -> None:
        assert not self.errors, self.errors
        # The first sample, taken before the clients started, and the final one after them.
        assert self.samples >= 2, f"only {self.samples} samples of pg_stat_activity"
        over = {p: n for p, n in self.max_per_node.items() if n > self.limit}
        assert not over, (f"pg_stat_activity showed more than transaction_pool_size ({self.limit}) "
                          f"backend connections of the proxy on nodes {over}")
        assert self.max_per_node[self.primary] >= 1, "no backend connection of the proxy seen on the primary"


class Churn:
    """Other clients in parallel: threads that connect, run a few short transactions (half of
    them with named prepared statements), check their results and disconnect, over and over."""

    def __init__(self, proxy, threads: int = 2):
        self.proxy = proxy
        self.transactions = 0
        self.connections = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"churn-{i}", daemon=True)
                         for i in range(threads)]

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        while not self._stop.is_set():
            try:
                prepare = 0 if rng.random() < 0.5 else None
                with self.proxy.connect(prepare_threshold=prepare, autocommit=False) as conn:
                    with self._lock:
                        self.connections += 1
                    for _ in range(3):
                        a, b = rng.randrange(10_000), rng.randrange(10_000)
                        got = conn.execute("SELECT %s::int + %s::int, %s::text", (a, b, f"churn{n}")).fetchone()
                        conn.commit()
                        if got != (a + b, f"churn{n}"):
                            raise AssertionError(f"churn got {got} for {a}+{b}")
                        with self._lock:
                            self.transactions += 1
            except Exception as e:
                self.errors.append(f"churn {n}: {type(e).__name__}: {e}")
                return

    def __enter__(self) -> "Churn":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def check(self) -> None:
        assert not self.errors, self.errors
        assert self.connections >= 2 and self.transactions >= 6, (
            f"churn ran only {self.transactions} transactions on {self.connections} connections")


def places_moved(proxy) -> int:
    """swiftpool_transaction_pool_places_moved_total, from /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith("swiftpool_transaction_pool_places_moved_total "):
            return int(float(line.split()[-1]))
    raise AssertionError("swiftpool_transaction_pool_places_moved_total is not in /metrics")


def in_two_phases(cluster, proxy, workload) -> None:
    """Runs `workload(phase)` twice: first alone, then while other clients churn the pool.
    `workload` checks its own results and returns the backend pids its clients saw.

    Alone, every client sends the same startup packet, so the pool's connections are reused
    (statements already prepared on them are found there): no more backend connections are
    ever opened than transaction_pool_size, and one more for each place that moved from one
    event loop to another (its connection closed on one loop, a new one opened on the other).
    With churn, clients come and go, and those whose startup packet differs (another driver's)
    make the pool replace connections, so statements are also prepared again on new ones."""
    with BackendMonitor(cluster, proxy) as alone:
        pids = set(workload("alone"))
    alone.check()
    opened = pids | alone.pids
    moved = places_moved(proxy)
    print("backend connections opened:", len(opened), "places moved between event loops:", moved)
    assert len(opened) <= POOL_SIZE + moved, (
        f"{len(opened)} backend connections opened for clients that all send the same startup "
        f"packet (transaction_pool_size {POOL_SIZE}, {moved} places moved between event loops)")
    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        pids = set(workload("churn"))
    churn.check()
    monitor.check()
    assert len(pids | monitor.pids) >= 2, pids | monitor.pids


# --------------------------------------------------------------------------- asyncpg

ASYNCPG_CLIENTS = 8
ASYNCPG_ITERATIONS = 40


async def asyncpg_client(port: int, c: int, iterations: int) -> dict:
    import asyncpg
    conn = await asyncpg.connect(host=HOST, port=port, user=USER, password=USERS[USER],
                                 database=TEST_DB, timeout=10)  # default statement cache
    pids: set[int] = set()
    checks = 0
    try:
        # Explicit statements prepared once, outside any transaction, and reused in all of them.
        mul = await conn.prepare("SELECT $1::int * 7 + $2::int AS v, pg_backend_pid() AS pid")
        label = await conn.prepare("SELECT $1::text || ':' || $2::int")
        late = None
        for i in range(iterations):
            async with conn.transaction():
                row = await mul.fetchrow(i, c)
                assert row["v"] == i * 7 + c, (c, i, dict(row))
                pids.add(row["pid"])
                assert await label.fetchval(f"c{c}", i) == f"c{c}:{i}"
                # Statement cache: the same texts every iteration, prepared once by the driver.
                assert await conn.fetchval("SELECT $1::int + $2::int * 1000", i, c) == i + c * 1000
                n = 1 + i % 6
                rows = await conn.fetch("SELECT g, g * $2::bigint AS m FROM generate_series(1, $1::int) AS g "
                                        "ORDER BY g", n, c + 2)
                assert [(r["g"], r["m"]) for r in rows] == [(k, k * (c + 2)) for k in range(1, n + 1)]
                if i == iterations // 3:
                    # Prepared inside one transaction, used in all the later ones.
                    late = await conn.prepare("SELECT $1::int - $2::int AS d")
                if late is not None:
                    assert await late.fetchval(i, c) == i - c
                    checks += 1
                checks += 4
            # Outside a transaction: Parse and Bind of a new text come in separate Sync groups.
            assert await conn.fetchval("SELECT $1::text || '/' || $2::text", f"c{c}", str(i)) == f"c{c}/{i}"
            assert await conn.fetchval("SELECT length($1::text) + $2::int", "x" * i, c) == i + c
            checks += 2
            if i % 10 == 9:
                # A failing statement in a transaction leaves the cached statements usable.
                try:
                    async with conn.transaction():
                        await conn.fetchval("SELECT 1000 / $1::int", 0)
                    raise AssertionError("division by zero did not fail")
                except asyncpg.DivisionByZeroError:
                    checks += 1
    finally:
        await conn.close()
    return {"pids": pids, "checks": checks}


def test_asyncpg_statement_cache_and_prepare_across_transactions(swiftpool, cluster):
    proxy = start_proxy(swiftpool)
    clients, iterations = ASYNCPG_CLIENTS, ASYNCPG_ITERATIONS
    per_client = iterations * 6 + (iterations - iterations // 3) + iterations // 10

    def workload(phase):
        async def run():
            return await asyncio.wait_for(asyncio.gather(
                *(asyncpg_client(proxy.port, c, iterations) for c in range(clients))), 50)
        results = asyncio.run(run())
        assert [r["checks"] for r in results] == [per_client] * clients
        if phase == "churn":
            assert any(len(r["pids"]) >= 2 for r in results), "no client ever moved to another backend connection"
        return set().union(*(r["pids"] for r in results))

    in_two_phases(cluster, proxy, workload)


async def asyncpg_cache_churn_client(port: int, c: int, texts: int) -> tuple[int, set[int]]:
    import asyncpg
    conn = await asyncpg.connect(host=HOST, port=port, user=USER, password=USERS[USER],
                                 database=TEST_DB, timeout=10)
    checks = 0
    pids: set[int] = set()
    try:
        # More distinct texts than asyncpg's cache (100) holds: it closes the oldest statements
        # and, on the second pass, prepares them again under new names.
        for rnd in range(2):
            for j in range(texts):
                async with conn.transaction():
                    got, pid = await conn.fetchrow(f"SELECT $1::int * {j + 1} + {rnd}, pg_backend_pid()", c)
                    assert got == c * (j + 1) + rnd, (c, j, rnd, got)
                    pids.add(pid)
                    checks += 1
    finally:
        await conn.close()
    return checks, pids


def test_asyncpg_statement_cache_eviction(swiftpool, cluster):
    """asyncpg's cache overflows (Close of evicted statements) and the proxy keeps only 16
    statements per backend connection, so statements are closed and prepared again on both
    sides."""
    proxy = start_proxy(swiftpool, transaction_pool_prepared_statements=16)
    clients, texts = 4, 110

    def workload(phase):
        async def run():
            return await asyncio.wait_for(asyncio.gather(
                *(asyncpg_cache_churn_client(proxy.port, c, texts) for c in range(clients))), 50)
        results = asyncio.run(run())
        assert [checks for checks, _ in results] == [2 * texts] * clients
        return set().union(*(pids for _, pids in results))

    in_two_phases(cluster, proxy, workload)


def test_a_cursor_read_in_batches_survives_statements_that_fill_the_cache(swiftpool, cluster):
    """asyncpg's cursor reads a portal in batches (Execute with a row limit, PortalSuspended)
    inside a transaction; between batches the client prepares more statements than the proxy
    keeps per connection, so the cursor's statement is closed to make room. PostgreSQL keeps a
    portal whose statement was closed (the protocol documentation says otherwise; 15 does not
    close it), so every batch still arrives, in order, and the cache works after."""
    import asyncpg
    proxy = start_proxy(swiftpool, transaction_pool_prepared_statements=2)

    async def run():
        conn = await asyncpg.connect(host=HOST, port=proxy.port, user=USER, password=USERS[USER],
                                     database=TEST_DB, timeout=10)
        try:
            for round_ in range(3):
                seen = []
                async with conn.transaction():
                    cursor = conn.cursor(f"SELECT g, {round_} AS r FROM generate_series(1, 60) g", prefetch=10)
                    async for row in cursor:
                        seen.append(row["g"])
                        if row["g"] % 10 == 5:
                            # Three statements the cache has no room for, each prepared by asyncpg.
                            for k in range(3):
                                text = f"SELECT $1::int + {round_ * 1000 + row['g'] * 10 + k}"
                                assert await conn.fetchval(text, 1) == 1 + round_ * 1000 + row["g"] * 10 + k
                assert seen == list(range(1, 61)), (round_, seen)
                # After the transaction the cache is back within its size and still works.
                assert await conn.fetchval("SELECT $1::int * 3", 7) == 21
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(run(), 60))


def test_asyncpg_statements_prepared_up_front_then_used(swiftpool, cluster):
    """Eight connections (twice transaction_pool_size) each prepare their statements at once and
    use them afterwards. conn.prepare() returns after Parse, Describe and Flush (no Sync), so a
    connection that has prepared is idle until the application executes something."""
    import asyncpg
    proxy = start_proxy(swiftpool, transaction_pool_timeout=10)
    clients, iterations = 2 * POOL_SIZE, 20

    async def run():
        conns = await asyncio.gather(*(asyncpg.connect(host=HOST, port=proxy.port, user=USER,
                                                       password=USERS[USER], database=TEST_DB, timeout=10)
                                       for _ in range(clients)))
        try:
            statements = await asyncio.wait_for(asyncio.gather(
                *(c.prepare("SELECT $1::int * 19 + $2::int, pg_backend_pid()") for c in conns)), 20)

            async def use(c):
                pids = set()
                for i in range(iterations):
                    async with conns[c].transaction():
                        v, pid = await statements[c].fetchrow(i, c)
                        assert v == i * 19 + c, (c, i, v)
                        pids.add(pid)
                return pids
            return await asyncio.wait_for(asyncio.gather(*(use(c) for c in range(clients))), 30)
        finally:
            await asyncio.gather(*(c.close() for c in conns))

    with BackendMonitor(cluster, proxy) as monitor:
        results = asyncio.run(run())
    assert len(results) == clients
    monitor.check()


# --------------------------------------------------------------------------- psycopg 3

PSYCOPG_CLIENTS = 6
PSYCOPG_ITERATIONS = 60


def psycopg_client(proxy, c: int, iterations: int) -> dict:
    pids: set[int] = set()
    checks = 0
    with proxy.connect(prepare_threshold=0, autocommit=False) as conn:
        for i in range(iterations):
            cur = conn.execute("SELECT %s::int * 13 + %s::int, pg_backend_pid()", (i, c))
            v, pid = cur.fetchone()
            assert v == i * 13 + c, (c, i, v)
            pids.add(pid)
            n = 1 + i % 4
            rows = conn.execute("SELECT g, repeat(%s::text, g) FROM generate_series(1, %s::int) AS g ORDER BY g",
                                (f"c{c}", n)).fetchall()
            assert rows == [(k, f"c{c}" * k) for k in range(1, n + 1)]
            checks += 2
            if i % 9 == 4:
                conn.rollback()
            else:
                conn.commit()
            if i % 5 == 0:
                # Several prepared statements in one pipeline (one Sync group for all of them).
                with conn.pipeline():
                    curs = [conn.execute("SELECT %s::int - %s::int", (i, k)) for k in range(3)]
                    curs.append(conn.execute("SELECT %s::text || %s::text", (f"c{c}", str(i))))
                assert [cu.fetchone()[0] for cu in curs] == [i, i - 1, i - 2, f"c{c}{i}"]
                conn.commit()
                checks += 4
        # prepare_threshold=0 prepared them from the first execution (psycopg's record of the
        # statements it prepared since its last rollback, after which it sends DEALLOCATE ALL).
        assert len(conn._prepared._names) >= 2, conn._prepared._names
    return {"pids": pids, "checks": checks}


def test_psycopg_prepare_threshold_zero(swiftpool, cluster):
    proxy = start_proxy(swiftpool)
    clients, iterations = PSYCOPG_CLIENTS, PSYCOPG_ITERATIONS
    per_client = iterations * 2 + 4 * len(range(0, iterations, 5))

    def workload(phase):
        results: dict[int, dict] = {}
        errors: list[str] = []

        def run(c):
            try:
                results[c] = psycopg_client(proxy, c, iterations)
            except Exception as e:
                errors.append(f"client {c}: {type(e).__name__}: {e}")

        threads = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(50)
        assert not errors, errors
        assert sorted(results) == list(range(clients))
        assert [results[c]["checks"] for c in range(clients)] == [per_client] * clients
        if phase == "churn":
            assert any(len(r["pids"]) >= 2 for r in results.values()), \
                "no client ever moved to another backend connection"
        return set().union(*(r["pids"] for r in results.values()))

    in_two_phases(cluster, proxy, workload)


def test_psycopg_clients_idle_after_a_pipeline_hold_no_backend_connection(swiftpool, cluster):
    """psycopg leaves pipeline mode with Sync and then Flush. Twice as many clients as backend
    connections each run one pipeline and stay connected, idle: none of them may keep a backend
    connection, so every one of them, and a client that comes later, gets one."""
    proxy = start_proxy(swiftpool, transaction_pool_timeout=5)
    idle = []
    with BackendMonitor(cluster, proxy) as monitor:
        try:
            for c in range(2 * POOL_SIZE):
                conn = proxy.connect(prepare_threshold=0, autocommit=False)
                idle.append(conn)
                with conn.pipeline():
                    cur = conn.execute("SELECT %s::int * 17, %s::text", (c, f"p{c}"))
                    conn.commit()
                assert cur.fetchone() == (c * 17, f"p{c}")
            with proxy.connect(prepare_threshold=0, autocommit=False) as late:
                for i in range(5):
                    assert late.execute("SELECT %s::int + 1", (i,)).fetchone() == (i + 1,)
                    late.commit()
            for c, conn in enumerate(idle):
                assert conn.execute("SELECT %s::int * 17, %s::text", (c, f"p{c}")).fetchone() == (c * 17, f"p{c}")
                conn.commit()
        finally:
            for conn in idle:
                conn.close()
    monitor.check()


def test_psycopg_rollback_in_a_pipeline_leaves_other_clients_statements_working(swiftpool, cluster):
    """psycopg's rollback() in pipeline mode sends ROLLBACK and DEALLOCATE ALL in one Sync group.
    The statements of the connection it ran on are gone; a client that prepared the same text
    and lands on that connection afterwards must still get its results. One backend
    connection, so every client shares it."""
    proxy = start_proxy(swiftpool, transaction_pool_size=1, num_event_loops=1, transaction_pool_timeout=5)
    query = "SELECT %s::int * 23, pg_backend_pid()"
    with BackendMonitor(cluster, proxy, limit=1) as monitor:
        with proxy.connect(prepare_threshold=0, autocommit=False) as a, \
                proxy.connect(prepare_threshold=0, autocommit=False) as b:
            v, pid_a = a.execute(query, (1,)).fetchone()
            a.commit()
            assert v == 23
            with b.pipeline():
                cur = b.execute(query, (2,))
                b.rollback()
            v, pid_b = cur.fetchone()
            assert (v, pid_b) == (46, pid_a)
            # Outside the pipeline: ends the exchange psycopg left open with its Flush.
            assert b.execute("SELECT %s::int", (3,)).fetchone() == (3,)
            b.commit()
            for i in range(4, 8):
                assert a.execute(query, (i,)).fetchone() == (i * 23, pid_a)
                a.commit()
                assert b.execute(query, (i,)).fetchone() == (i * 23, pid_a)
                b.commit()
    monitor.check()


def test_psycopg_deallocate_all_in_a_rolled_back_transaction_leaves_other_clients_statements_working(
        swiftpool, cluster):
    """DEALLOCATE ALL is not undone by a rollback. psycopg sends it with the extended protocol in
    pipeline mode, inside the transaction the client then rolls back; the statements of that
    backend connection are gone all the same, and a client that prepared the same text must
    still get its results there. One backend connection, so every client shares it."""
    proxy = start_proxy(swiftpool, transaction_pool_size=1, num_event_loops=1, transaction_pool_timeout=5)
    query = "SELECT %s::int * 29, pg_backend_pid()"
    with BackendMonitor(cluster, proxy, limit=1) as monitor:
        with proxy.connect(prepare_threshold=0, autocommit=False) as a, \
                proxy.connect(prepare_threshold=0, autocommit=False) as b:
            v, pid = a.execute(query, (1,)).fetchone()
            a.commit()
            assert v == 29
            with b.pipeline():
                b.execute("DEALLOCATE ALL", prepare=False)
            b.rollback()
            for i in range(2, 6):
                assert a.execute(query, (i,)).fetchone() == (i * 29, pid)
                a.commit()
                assert b.execute(query, (i,)).fetchone() == (i * 29, pid)
                b.commit()
    monitor.check()


# --------------------------------------------------------------------------- pgjdbc

@pytest.fixture
def jdbc_table(cluster):
    name = f"tp_drivers_jdbc_{os.getpid()}"
    cluster.sql(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (thread int, iter int, k int, v int)",
                port=cluster.primary_port(), user=USER, db=TEST_DB)
    yield name
    cluster.sql(f"DROP TABLE IF EXISTS {name}", port=cluster.primary_port(), user=USER, db=TEST_DB)


def test_pgjdbc_prepare_threshold_one(swiftpool, cluster, jdbc_table):
    assert JDBC_JAR.exists(), f"{JDBC_JAR} missing: run scripts/install-deps.sh"
    java = shutil.which("java")
    assert java, "java missing: run scripts/install-deps.sh"
    proxy = start_proxy(swiftpool)
    threads, iterations = 6, 60
    rollbacks = len([i for i in range(iterations) if i % 7 == 3])
    committed_iters = [i for i in range(iterations) if i % 7 != 3]
    want_rows = threads * sum(1 + i % 4 for i in committed_iters)
    want_sum = sum(t * 1000 + i * 10 + k for t in range(threads) for i in committed_iters for k in range(1 + i % 4))

    def workload(phase):
        cluster.sql(f"TRUNCATE {jdbc_table}", port=cluster.primary_port(), user=USER, db=TEST_DB)
        proc = subprocess.run(
            [java, "-cp", str(JDBC_JAR), str(DRIVERS_DIR / "JdbcPreparedTx.java"),
             "--url", f"jdbc:postgresql://{HOST}:{proxy.port}/{TEST_DB}", "--user", USER,
             "--password", USERS[USER], "--table", jdbc_table,
             "--threads", str(threads), "--iterations", str(iterations)],
            capture_output=True, text=True, timeout=50)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["ok"] is True and result["errors"] == [], result
        assert result["rolled_back"] == threads * rollbacks
        assert result["committed"] == threads * (iterations - rollbacks)
        assert result["checks"] == threads * iterations * 7
        assert result["server_prepared"] == threads * iterations, result
        if phase == "churn":
            assert max(result["pids_per_thread"]) >= 2, result
        # What the committed transactions wrote, and nothing of the rolled-back ones.
        rows = cluster.query(f"SELECT count(*), sum(v), count(*) FILTER (WHERE iter % 7 = 3) FROM {jdbc_table}",
                             port=cluster.primary_port(), user=USER, db=TEST_DB)
        assert rows == [[str(want_rows), str(want_sum), "0"]]
        return set(result["backend_pids"])

    in_two_phases(cluster, proxy, workload)


# --------------------------------------------------------------------------- node-postgres

def test_node_postgres_named_queries(swiftpool, cluster, node_env):
    proxy = start_proxy(swiftpool)
    clients, iterations = 8, 40
    rollbacks = len([i for i in range(iterations) if i % 6 == 5])

    def workload(phase):
        proc = subprocess.run(
            ["node", str(DRIVERS_DIR / "node_named_tx.js"), "--host", HOST, "--port", str(proxy.port),
             "--user", USER, "--password", USERS[USER], "--database", TEST_DB,
             "--clients", str(clients), "--iterations", str(iterations)],
            env=node_env, capture_output=True, text=True, timeout=50)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["ok"] is True and result["errors"] == [], result
        assert result["rolled_back"] == clients * rollbacks
        assert result["committed"] == clients * (iterations - rollbacks)
        assert result["checks"] == clients * (iterations * 4 + rollbacks)
        if phase == "churn":
            assert max(result["pids_per_client"]) >= 2, result
        return set(result["backend_pids"])

    in_two_phases(cluster, proxy, workload)


# --------------------------------------------------------------------------- pgbench

def test_pgbench_prepared_more_clients_than_backends(swiftpool, cluster, pgbench_db):
    """20 pgbench clients (TPC-B, -M prepared) over 4 backend connections. One pgbench thread
    per client: pgbench prepares each statement with a blocking call, and a thread that blocks
    on a prepare cannot finish the transactions its other clients hold connections for."""
    proxy = start_proxy(swiftpool)
    clients, per_client = 20, 30
    q = ("SELECT (SELECT count(*) FROM pgbench_history), "
         "(SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history), "
         "(SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history), "
         "(SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)")

    def workload(phase):
        before = int(cluster.query(q, port=cluster.primary_port(), user=USER, db=TEST_DB)[0][0])
        # -n: pgbench_history is not truncated, so it adds up over both phases.
        out = pgbench(proxy.port, "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
                      "-t", str(per_client), timeout=50)
        assert processed(out) == (clients * per_client, clients * per_client), out
        assert re.search(r"number of failed transactions: 0 \(", out), out
        history, accounts_ok, branches_ok, tellers_ok = cluster.query(
            q, port=cluster.primary_port(), user=USER, db=TEST_DB)[0]
        assert int(history) == before + clients * per_client
        assert (accounts_ok, branches_ok, tellers_ok) == ("t", "t", "t")
        return set()

    in_two_phases(cluster, proxy, workload)
