"""Memory per session stays bounded whatever a client sends: large messages stream through
without being held whole, and a client pipelining faster than the backends answer is read
only as fast as they do."""
from __future__ import annotations

import hashlib
import time

import psycopg
import pytest

READS = {"load_balance_mode": True, "statement_level_load_balance": False, "sr_check_period": 0,
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}
MIB = 1 << 20


def peak_rss(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in bytes."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def reset_peak(pid: int) -> None:
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


@pytest.mark.parametrize("overrides", [{}, READS], ids=["primary-only", "load-balanced"])
def test_large_binds_queries_and_copy_rows_stream_through(swiftpool, overrides):
    proxy = swiftpool(overrides)
    payload = bytes(range(256)) * (96 * MIB // 256)      # one 96 MiB parameter
    text = "x" * (24 * MIB)
    with proxy.connect() as conn:
        conn.execute("CREATE TEMP TABLE blobs (id int, data bytea, note text)")
        conn.execute("SELECT 1")
        reset_peak(proxy.pid)
        before = peak_rss(proxy.pid)
        # A Bind of 96 MiB (extended protocol).
        conn.execute("INSERT INTO blobs VALUES (1, %s, NULL)", (payload,))
        # A Query of 24 MiB (simple protocol).
        conn.execute(f"INSERT INTO blobs VALUES (2, NULL, '{text}')".encode(), prepare=False)
        # One CopyData message of 24 MiB.
        with conn.cursor().copy("COPY blobs (id, note) FROM STDIN") as copy:
            copy.write(b"3\t" + text.encode() + b"\n")
        grown = peak_rss(proxy.pid) - before
        rows = conn.execute("SELECT id, md5(data), length(note) FROM blobs ORDER BY id").fetchall()
    assert rows == [(1, hashlib.md5(payload).hexdigest(), None), (2, None, len(text)), (3, None, len(text))]
    print(f"peak RSS grew by {grown / MIB:.1f} MiB while 144 MiB of messages passed")
    assert grown < 24 * MIB, f"peak RSS grew by {grown / MIB:.1f} MiB"
    # The session's backend connection was left clean: the next session reuses the pool.
    with proxy.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_client_leaving_mid_message_leaves_no_half_written_backend(swiftpool, cluster):
    proxy = swiftpool({"num_init_children": 2, "max_pool": 1, "num_event_loops": 1})
    import socket
    import struct
    with proxy.connect(application_name="half-bind") as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        sock = socket.socket(fileno=conn.fileno())
        # A Query message that announces 8 MiB and sends 1 MiB of it, then the client goes.
        sock.sendall(b"Q" + struct.pack("!i", 8 * MIB + 4) + b"SELECT '" + b"y" * MIB)
        sock.detach()
    # The backend that got half a message is not handed to anyone: its process ends.
    deadline = time.monotonic() + 10
    while cluster.sql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}").stdout.strip() != "0":
        assert time.monotonic() < deadline, "the half-written backend connection stayed open"
        time.sleep(0.1)
    with proxy.connect() as conn:
        assert conn.execute("SELECT 'clean'").fetchone() == ("clean",)


def test_a_pipelining_client_is_read_only_as_fast_as_the_backends_answer(swiftpool):
    """Queries alternating between a standby and the primary wait in the session's queue; the
    queue stays under its bound however much the client sends ahead."""
    proxy = swiftpool(READS)
    with proxy.connect() as conn:
        conn.execute("SELECT 1")
        reset_peak(proxy.pid)
        before = peak_rss(proxy.pid)
        with conn.pipeline():
            for i in range(60000):
                conn.execute("SELECT %s::int, pg_sleep(0)" if i % 2 else "SELECT %s::int", (i,), prepare=False)
        grown = peak_rss(proxy.pid) - before
        assert conn.execute("SELECT 'after'").fetchone() == ("after",)
    print(f"peak RSS grew by {grown / MIB:.1f} MiB for 60,000 pipelined statements")
    assert grown < 32 * MIB
