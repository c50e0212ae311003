"""Transaction pooling with real drivers that use protocol-level named prepared statements:
asyncpg (its statement cache and explicit prepare()), psycopg 3 (prepare_threshold=0), pgjdbc
(prepareThreshold=1), node-postgres named queries and `pgbench -M prepared`.

Each test runs its driver's clients over many transactions while other clients churn the pool
(short transactions on new connections), checks every result the driver returns, and samples
the primary's pg_stat_activity throughout: the proxy's backend connections never exceed
transaction_pool_size on any node. There are more clients than backend connections, so each
client's statements run on backend connections other than the one that first prepared them."""
from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import threading
import time
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
    """Samples, every `interval` seconds, how many backend connections the proxy holds: on the
    primary from pg_stat_activity (client backends whose client port is one of the proxy's
    sockets to the primary), on every node from the proxy's own sockets."""

    def __init__(self, cluster, proxy, interval: float = 0.05):
        self.cluster = cluster
        self.proxy = proxy
        self.interval = interval
        self.primary = cluster.primary_port()
        self.ports = cluster.ports
        self.max_primary_activity = 0
        self.max_sockets = {p: 0 for p in self.ports}
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-monitor", daemon=True)

    def _sample(self, conn) -> None:
        sockets = proxy_backend_sockets(self.proxy.pid, self.ports)
        rows = conn.execute(
            "SELECT client_port FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND client_port IS NOT NULL "
            "AND usename = %s AND datname = %s", (USER, TEST_DB)).fetchall()
        on_primary = sum(1 for (port,) in rows if port in sockets[self.primary])
        self.max_primary_activity = max(self.max_primary_activity, on_primary)
        for p, s in sockets.items():
            self.max_sockets[p] = max(self.max_sockets[p], len(s))
        self.samples += 1

    def _run(self) -> None:
        try:
            with psycopg.connect(self.cluster.dsn(self.primary), autocommit=True,
                                 connect_timeout=10) as conn:
                while not self._stop.is_set():
                    self._sample(conn)
                    self._stop.wait(self.interval)
                self._sample(conn)
        except Exception as e:  # reported by check()
            self.errors.append(f"{type(e).__name__}: {e}")

    def __enter__(self) -> "BackendMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(15)

    def check(self) -> None:
        assert not self.errors, self.errors
        assert self.samples >= 5, f"only {self.samples} samples of pg_stat_activity"
        assert 1 <= self.max_primary_activity <= POOL_SIZE, (
            f"pg_stat_activity on the primary showed up to {self.max_primary_activity} backend "
            f"connections of the proxy (transaction_pool_size {POOL_SIZE})")
        over = {p: n for p, n in self.max_sockets.items() if n > POOL_SIZE}
        assert not over, f"proxy held more than {POOL_SIZE} connections to nodes {over}"
        # pg_stat_activity agrees with the proxy's own sockets.
        final = self.cluster.query(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            f"AND usename = '{USER}' AND datname = '{TEST_DB}' AND client_port IN "
            f"({','.join(str(p) for p in proxy_backend_sockets(self.proxy.pid, self.ports)[self.primary]) or '0'})",
            port=self.primary)
        assert int(final[0][0]) <= POOL_SIZE


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


async def asyncpg_run(port: int, clients: int, iterations: int) -> list[dict]:
    return await asyncio.gather(*(asyncpg_client(port, c, iterations) for c in range(clients)))


def test_asyncpg_statement_cache_and_prepare_across_transactions(swiftpool, cluster):
    proxy = start_proxy(swiftpool)
    t0 = time.monotonic()
    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        results = asyncio.run(asyncpg_run(proxy.port, ASYNCPG_CLIENTS, ASYNCPG_ITERATIONS))
    elapsed = time.monotonic() - t0
    per_client = ASYNCPG_ITERATIONS * 6 + (ASYNCPG_ITERATIONS - ASYNCPG_ITERATIONS // 3) + ASYNCPG_ITERATIONS // 10
    assert [r["checks"] for r in results] == [per_client] * ASYNCPG_CLIENTS
    pids = set().union(*(r["pids"] for r in results))
    assert 2 <= len(pids) <= POOL_SIZE, pids
    assert any(len(r["pids"]) >= 2 for r in results), "no client ever moved to another backend connection"
    churn.check()
    monitor.check()
    assert elapsed < 60


async def asyncpg_cache_churn_client(port: int, c: int, texts: int) -> int:
    import asyncpg
    conn = await asyncpg.connect(host=HOST, port=port, user=USER, password=USERS[USER],
                                 database=TEST_DB, timeout=10)
    checks = 0
    try:
        # More distinct texts than asyncpg's cache (100) holds: it closes the oldest statements
        # and, on the second pass, prepares them again under new names.
        for rnd in range(2):
            for j in range(texts):
                async with conn.transaction():
                    got = await conn.fetchval(f"SELECT $1::int * {j + 1} + {rnd}", c)
                    assert got == c * (j + 1) + rnd, (c, j, rnd, got)
                    checks += 1
    finally:
        await conn.close()
    return checks


def test_asyncpg_statement_cache_eviction(swiftpool, cluster):
    """asyncpg's cache overflows (Close of evicted statements) and the proxy's per-connection
    statement limit is small, so statements are closed and prepared again on both sides."""
    proxy = start_proxy(swiftpool, transaction_pool_prepared_statements=16)
    texts = 130
    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        checks = asyncio.run(asyncio.wait_for(asyncio.gather(
            *(asyncpg_cache_churn_client(proxy.port, c, texts) for c in range(6))), 55))
    assert checks == [2 * texts] * 6
    churn.check()
    monitor.check()


# --------------------------------------------------------------------------- psycopg 3

PSYCOPG_CLIENTS = 6
PSYCOPG_ITERATIONS = 60


def psycopg_client(proxy, c: int, iterations: int, out: dict) -> None:
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
    out[c] = {"pids": pids, "checks": checks}


def test_psycopg_prepare_threshold_zero(swiftpool, cluster):
    proxy = start_proxy(swiftpool)
    results: dict[int, dict] = {}
    errors: list[str] = []

    def run(c):
        try:
            psycopg_client(proxy, c, PSYCOPG_ITERATIONS, results)
        except Exception as e:
            errors.append(f"client {c}: {type(e).__name__}: {e}")

    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        threads = [threading.Thread(target=run, args=(c,)) for c in range(PSYCOPG_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(55)
    assert not errors, errors
    per_client = PSYCOPG_ITERATIONS * 2 + 4 * len(range(0, PSYCOPG_ITERATIONS, 5))
    assert sorted(results) == list(range(PSYCOPG_CLIENTS))
    assert [results[c]["checks"] for c in range(PSYCOPG_CLIENTS)] == [per_client] * PSYCOPG_CLIENTS
    pids = set().union(*(r["pids"] for r in results.values()))
    assert 2 <= len(pids) <= POOL_SIZE, pids
    assert any(len(r["pids"]) >= 2 for r in results.values()), "no client ever moved to another backend connection"
    churn.check()
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
    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        proc = subprocess.run(
            [java, "-cp", str(JDBC_JAR), str(DRIVERS_DIR / "JdbcPreparedTx.java"),
             "--url", f"jdbc:postgresql://{HOST}:{proxy.port}/{TEST_DB}", "--user", USER,
             "--password", USERS[USER], "--table", jdbc_table,
             "--threads", str(threads), "--iterations", str(iterations)],
            capture_output=True, text=True, timeout=55)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["errors"] == [], result
    rollbacks = len([i for i in range(iterations) if i % 7 == 3])
    assert result["rolled_back"] == threads * rollbacks
    assert result["committed"] == threads * (iterations - rollbacks)
    assert result["checks"] == threads * iterations * 7
    assert result["server_prepared"] == threads * iterations, result
    assert 2 <= result["distinct_backend_pids"] <= POOL_SIZE, result
    assert max(result["pids_per_thread"]) >= 2, result
    # What the committed transactions wrote, and nothing of the rolled-back ones.
    committed_iters = [i for i in range(iterations) if i % 7 != 3]
    want_rows = threads * sum(1 + i % 4 for i in committed_iters)
    want_sum = sum(t * 1000 + i * 10 + k for t in range(threads) for i in committed_iters for k in range(1 + i % 4))
    rows = cluster.query(f"SELECT count(*), sum(v), count(*) FILTER (WHERE iter % 7 = 3) FROM {jdbc_table}",
                         port=cluster.primary_port(), user=USER, db=TEST_DB)
    assert rows == [[str(want_rows), str(want_sum), "0"]]
    churn.check()
    monitor.check()


# --------------------------------------------------------------------------- node-postgres

def test_node_postgres_named_queries(swiftpool, cluster, node_env):
    proxy = start_proxy(swiftpool)
    clients, iterations = 8, 40
    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        proc = subprocess.run(
            ["node", str(DRIVERS_DIR / "node_named_tx.js"), "--host", HOST, "--port", str(proxy.port),
             "--user", USER, "--password", USERS[USER], "--database", TEST_DB,
             "--clients", str(clients), "--iterations", str(iterations)],
            env=node_env, capture_output=True, text=True, timeout=55)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["errors"] == [], result
    rollbacks = len([i for i in range(iterations) if i % 6 == 5])
    assert result["rolled_back"] == clients * rollbacks
    assert result["committed"] == clients * (iterations - rollbacks)
    assert result["checks"] == clients * (iterations * 4 + rollbacks)
    assert 2 <= result["distinct_backend_pids"] <= POOL_SIZE, result
    assert max(result["pids_per_client"]) >= 2, result
    churn.check()
    monitor.check()


# --------------------------------------------------------------------------- pgbench

def test_pgbench_prepared_more_clients_than_backends(swiftpool, cluster, pgbench_db):
    proxy = start_proxy(swiftpool)
    q = ("SELECT (SELECT count(*) FROM pgbench_history), "
         "(SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history), "
         "(SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history), "
         "(SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)")
    before = int(cluster.query(q, port=cluster.primary_port(), user=USER, db=TEST_DB)[0][0])
    clients, per_client = 20, 40
    with BackendMonitor(cluster, proxy) as monitor, Churn(proxy) as churn:
        out = pgbench(proxy.port, "-M", "prepared", "-c", str(clients), "-j", "2", "-t", str(per_client),
                      timeout=55)
    assert processed(out) == (clients * per_client, clients * per_client), out
    assert "number of failed transactions: 0" in out, out
    history, accounts_ok, branches_ok, tellers_ok = cluster.query(
        q, port=cluster.primary_port(), user=USER, db=TEST_DB)[0]
    assert int(history) == before + clients * per_client
    assert (accounts_ok, branches_ok, tellers_ok) == ("t", "t", "t")
    churn.check()
    monitor.check()
