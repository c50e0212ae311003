"""Failover: nodes that fail are taken out, failover commands run with their placeholders,
the replication check keeps lagging standbys from reads, the status file outlives restarts,
and auto_failback brings a streaming standby back."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import free_port, session_ports

HEALTH = {"health_check_period": 1, "health_check_timeout": 3, "health_check_max_retries": 1,
          "health_check_retry_delay": 1, "connect_timeout": 1000, "health_check_user": "repmgr",
          "health_check_password": ""}
READS = {"load_balance_mode": True, "statement_level_load_balance": False,
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}


def wait_for(predicate, timeout: float, message: str = "", interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message() if callable(message) else message}")
        time.sleep(interval)


def with_dead_node(overrides: dict) -> dict:
    """A fifth node on a port nobody listens on, taking no reads: its health check fails."""
    return {"backend_hostname4": "127.0.0.1", "backend_port4": free_port(), "backend_weight4": 0,
            "backend_data_directory4": "/data/node4", "backend_application_name4": "node4", **overrides}


@pytest.mark.parametrize("on_backend_error", [True, False], ids=["backend-error", "health-check-only"])
def test_standby_killed_under_read_load(swiftpool, cluster, on_backend_error):
    slots = 8
    proxy = swiftpool({**READS, **HEALTH, "num_init_children": slots, "sr_check_period": 0,
                       "failover_on_backend_error": on_backend_error})
    killed_port = cluster.node_port(3)
    errors: list[tuple[float, str, float]] = []   # (when, sqlstate or text, how long the call took)
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            started = time.monotonic()
            try:
                with psycopg.connect(proxy.dsn(), connect_timeout=10, prepare_threshold=None) as conn:
                    for _ in range(20):
                        started = time.monotonic()
                        conn.execute("SELECT current_setting('port')").fetchone()
            except psycopg.Error as error:
                errors.append((time.monotonic(), error.sqlstate or str(error), time.monotonic() - started))

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        killed_at = time.monotonic()
        cluster.stop_node(3, immediate=True)
        wait_for(lambda: "backend node 3 is now down" in proxy.log(), 30, lambda: proxy.log()[-3000:])
        down_at = time.monotonic()
        # period + timeout + retries × (timeout + delay), plus the stop command itself.
        bound = 1 + 3 + 1 * (3 + 1)
        print(f"standby marked down {down_at - killed_at:.2f} s after the kill (bound {bound} s)")
        assert down_at - killed_at <= bound + 2
        assert ("reason=health_check" in proxy.log()) != on_backend_error
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads), "a reader hung"
        late = [e for e in errors if e[0] > down_at + 0.5]
        assert not late, f"errors after the node was marked down: {late}"
        # A clear error: a FATAL from SwiftPool or the dying backend, or (when the client's next
        # query raced the close) libpq's own "server closed the connection".
        for _, sqlstate, took in errors:
            assert sqlstate in ("57P01", "08006", "57P03") or "server closed the connection" in sqlstate, errors
            assert took < 10, errors
        print(f"{len(errors)} reader errors, all before the node was marked down")
        # New sessions never land on the dead node, and every client slot still works.
        assert killed_port not in session_ports(proxy, 20)
        conns = [psycopg.connect(proxy.dsn(), connect_timeout=10) for _ in range(slots)]
        try:
            assert all(c.execute("SELECT 1").fetchone() == (1,) for c in conns)
        finally:
            for c in conns:
                c.close()
        status = (Path(proxy.params["logdir"]) / "pgpool_status").read_text().split()
        assert status == ["up", "up", "up", "down"]
    finally:
        stop.set()
        cluster.start_node(3)
        cluster.wait_streaming()


def test_losing_a_standby_keeps_the_sessions_that_do_not_depend_on_it(swiftpool, cluster):
    """An idle session whose reads went to the lost standby goes on, its next reads on another
    node; a session in a transaction on that standby, or whose SET it holds, is handled as its
    state demands."""
    proxy = swiftpool({**READS, **HEALTH, "sr_check_period": 0,
                       "backend_weight1": 1, "backend_weight2": 0, "backend_weight3": 1})
    lost_port = cluster.node_port(3)

    def on_lost_standby(**kwargs):
        for _ in range(40):
            conn = proxy.connect(prepare_threshold=None, **kwargs)
            if conn.execute("SELECT current_setting('port')::int").fetchone()[0] == lost_port:
                return conn
            conn.close()
        raise AssertionError("no session was balanced to node 3 in 40 tries")

    idle = on_lost_standby()
    with_set = on_lost_standby()
    with_set.execute("SET application_name = 'kept'")
    in_transaction = on_lost_standby()
    in_transaction.execute("BEGIN")
    assert in_transaction.execute("SELECT current_setting('port')::int").fetchone()[0] == lost_port
    try:
        cluster.stop_node(3, immediate=True)
        wait_for(lambda: "backend node 3 is now down" in proxy.log(), 30, lambda: proxy.log()[-3000:])
        for _ in range(5):
            port = idle.execute("SELECT current_setting('port')::int").fetchone()[0]
            assert port in (cluster.node_port(0), cluster.node_port(1)), port
        # The SET went to the lost node only besides the primary: the primary keeps serving it.
        assert with_set.execute("SELECT current_setting('port')::int, current_setting('application_name')").fetchone() \
            == (cluster.node_port(0), "kept")
        with pytest.raises(psycopg.OperationalError) as lost:
            in_transaction.execute("SELECT 1")
        assert lost.value.sqlstate in ("57P01", "08006") or "server closed the connection" in str(lost.value)
    finally:
        for conn in (idle, with_set, in_transaction):
            conn.close()
        cluster.start_node(3)
        cluster.wait_streaming()


def test_prepared_begin_and_commit_keep_committing_after_a_standby_is_lost(swiftpool, cluster):
    """psycopg prepares BEGIN and COMMIT; with statement-level balancing they live on every
    node. After a standby is lost, the session goes on: every COMMIT it is told succeeded must
    have committed on the primary (SwiftPool once re-parsed a statement meant for the lost node
    on the primary instead, where the hidden error aborted the transaction and COMMIT became a
    silent ROLLBACK)."""
    cluster.sql("DROP TABLE IF EXISTS lost_standby_commits; CREATE TABLE lost_standby_commits (id int PRIMARY KEY); "
                "GRANT ALL ON lost_standby_commits TO app_readwrite", db="swiftpool_test")
    proxy = swiftpool({**READS, **HEALTH, "sr_check_period": 0, "statement_level_load_balance": True,
                       "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1})
    acked: list[int] = []
    try:
        with proxy.connect(prepare_threshold=0) as conn:
            conn.autocommit = True

            def transaction(ident: int) -> None:
                conn.execute("BEGIN")
                conn.execute("INSERT INTO lost_standby_commits VALUES (%s)", (ident,))
                conn.execute("SELECT count(*) FROM lost_standby_commits").fetchone()
                conn.execute("COMMIT")
                acked.append(ident)

            for ident in range(5):
                transaction(ident)
            cluster.stop_node(3, immediate=True)
            wait_for(lambda: "backend node 3 is now down" in proxy.log(), 30, lambda: proxy.log()[-3000:])
            for ident in range(5, 15):
                transaction(ident)
        rows = {int(row[0]) for row in cluster.query("SELECT id FROM lost_standby_commits", db="swiftpool_test")}
        assert [i for i in acked if i not in rows] == [], "acknowledged commits missing on the primary"
        assert len(acked) == 15
    finally:
        cluster.start_node(3)
        cluster.wait_streaming()
        cluster.sql("DROP TABLE IF EXISTS lost_standby_commits", db="swiftpool_test")


def test_failover_command_gets_every_placeholder(swiftpool, tmp_path):
    out = tmp_path / "failover.out"
    proxy = swiftpool(with_dead_node({
        **HEALTH, "failover_command": f"echo '%d|%h|%p|%D|%m|%H|%M|%P|%r|%R|%N|%S|%%|%x' >> {out}",
        "backend_data_directory0": "/data/node0"}))
    wait_for(out.exists, 20, lambda: proxy.log()[-3000:])
    wait_for(lambda: "failover_command finished" in proxy.log(), 10, lambda: proxy.log()[-3000:])
    dead_port = proxy.params["backend_port4"]
    assert out.read_text() == f"4|127.0.0.1|{dead_port}|/data/node4|0|127.0.0.1|0|0|15501|/data/node0|127.0.0.1|15501|%|\n"
    assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"


@pytest.mark.parametrize("command,expected", [
    ("echo about to fail; exit 7", "failover_command failed"),
    ("sleep 60", "failover_command did not finish in time and was killed"),
])
def test_failing_or_hanging_failover_command_is_reported_and_serving_goes_on(swiftpool, command, expected):
    proxy = swiftpool(with_dead_node({**HEALTH, "failover_command": command, "failover_command_timeout": 2}))
    wait_for(lambda: expected in proxy.log(), 30, lambda: proxy.log()[-3000:])
    if "exit 7" in command:
        assert "exit_code=7" in proxy.log()
        assert "failover_command: about to fail" in proxy.log()
    assert proxy.is_running()
    assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"


def test_lagging_standby_gets_no_reads_until_replay_resumes(swiftpool, cluster):
    proxy = swiftpool({**READS, "sr_check_period": 1, "delay_threshold": "1MB", "log_standby_delay": "none"})
    lagging_port = cluster.node_port(1)
    wait_for(lambda: lagging_port in session_ports(proxy, 30), 20, "node 1 never got a read")
    cluster.sql("SELECT pg_wal_replay_pause()", port=lagging_port)
    try:
        cluster.sql("DROP TABLE IF EXISTS lag_filler; CREATE TABLE lag_filler AS "
                    "SELECT repeat('x', 1000) AS pad FROM generate_series(1, 5000)", db="swiftpool_test")
        wait_for(lambda: "standby is over the delay threshold" in proxy.log(), 20, lambda: proxy.log()[-3000:])
        assert "node=1" in proxy.log()
        assert lagging_port not in session_ports(proxy, 40)
    finally:
        cluster.sql("SELECT pg_wal_replay_resume()", port=lagging_port)
        cluster.sql("DROP TABLE IF EXISTS lag_filler", db="swiftpool_test")
    wait_for(lambda: "standby is within the delay threshold again" in proxy.log(), 20, lambda: proxy.log()[-3000:])
    wait_for(lambda: lagging_port in session_ports(proxy, 30), 20, "node 1 never got reads back")


def test_status_file_keeps_a_node_down_across_restarts(swiftpool, cluster, tmp_path):
    logdir = tmp_path / "status-logdir"
    logdir.mkdir()
    (logdir / "pgpool_status").write_text("up\nup\nup\ndown\n")
    settings = {**READS, "logdir": str(logdir), "sr_check_period": 0}
    proxy = swiftpool(settings)
    assert "down according to" in proxy.log()
    assert cluster.node_port(3) not in session_ports(proxy, 40)
    proxy.stop()
    assert (logdir / "pgpool_status").read_text() == "up\nup\nup\ndown\n"

    # -D discards the file: every node is attached again.
    proxy = swiftpool(settings, extra_args=["-D"])
    wait_for(lambda: cluster.node_port(3) in session_ports(proxy, 20), 20, "node 3 got no reads after -D")
    proxy.stop()

    # A file that marks no node up is ignored.
    (logdir / "pgpool_status").write_text("down\ndown\ndown\ndown\n")
    proxy = swiftpool(settings)
    assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"
    assert "down according to" not in proxy.log()


def test_auto_failback_attaches_a_streaming_standby(swiftpool, cluster, tmp_path):
    logdir = tmp_path / "fb-logdir"
    logdir.mkdir()
    (logdir / "pgpool_status").write_text("up\nup\ndown\nup\n")
    proxy = swiftpool({**READS, "logdir": str(logdir), "sr_check_period": 1, "auto_failback": True,
                       "auto_failback_interval": 1, "log_min_messages": "warning"})
    wait_for(lambda: "attaching it (auto_failback)" in proxy.log(), 20, lambda: proxy.log()[-3000:])
    wait_for(lambda: "backend node 2 is attached" in proxy.log(), 5, lambda: proxy.log()[-3000:])
    wait_for(lambda: cluster.node_port(2) in session_ports(proxy, 20), 20, "node 2 got no reads after auto_failback")
    wait_for(lambda: (logdir / "pgpool_status").read_text() == "up\nup\nup\nup\n", 5, "status file not rewritten")


@pytest.mark.parametrize("shutdown_failover", [False, True])
def test_terminated_backend_fails_the_node_over_only_when_configured(swiftpool, cluster, shutdown_failover):
    proxy = swiftpool({"failover_on_backend_shutdown": shutdown_failover, "sr_check_period": 0,
                       "backend_weight0": 1})
    with proxy.connect() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        cluster.sql(f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    if shutdown_failover:
        # The primary is the last usable node with load balancing off only if the others are
        # down; here the standbys are usable, so node 0 really goes down.
        wait_for(lambda: "backend node 0 is now down" in proxy.log(), 10, lambda: proxy.log()[-3000:])
        assert "reason=backend_shutdown" in proxy.log()
    else:
        time.sleep(1)
        assert "is now down" not in proxy.log()
        assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"
