"""The PCP port, driven by Debian's real pcp_* programs (Pgpool-II 4.3.5) and by raw sockets.
The programs exit 0 on some errors, so their output is checked too."""
from __future__ import annotations

import hashlib
import os
import re
import socket
import struct
import subprocess
import time

import psycopg
import pytest
import requests

from conftest import HOST, session_ports

PCP_USER, PCP_PASSWORD = "pcpadmin", "pcpadminpass"
READS = {"load_balance_mode": True, "statement_level_load_balance": False, "sr_check_period": 0,
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}


@pytest.fixture
def pcp(tmp_path):
    passfile = tmp_path / "pcppass"
    passfile.write_text(f"*:*:{PCP_USER}:{PCP_PASSWORD}\n")
    os.chmod(passfile, 0o600)

    def run(proxy, program: str, *args: str, password_file=passfile, check: bool = True) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ["PATH"], "PCPPASSFILE": str(password_file), "HOME": str(tmp_path)}
        result = subprocess.run([f"/usr/sbin/{program}", "-h", HOST, "-p", str(proxy.pcp_port), "-U", PCP_USER, "-w", *args],
                                env=env, capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0 and "ERROR" not in result.stderr, (program, args, result.stdout, result.stderr)
        return result
    return run


def test_read_commands(swiftpool, pcp):
    proxy = swiftpool({"health_check_period": 1, "health_check_user": "repmgr", "health_check_password": ""})
    assert pcp(proxy, "pcp_node_count").stdout.strip() == "4"
    node = pcp(proxy, "pcp_node_info", "-n", "1").stdout.split()
    assert node[:2] == ["127.0.0.1", "15502"], node
    verbose = pcp(proxy, "pcp_node_info", "-n", "0", "-v").stdout
    assert "Hostname" in verbose and "15501" in verbose, verbose
    assert re.search(r"^Role\s*: primary$", verbose, re.M) and re.search(r"^Backend Role\s*: primary$", verbose, re.M), verbose
    assert re.search(r"^Backend Status Name\s*: up$", verbose, re.M), verbose
    assert "1970-01-01" not in verbose
    every = pcp(proxy, "pcp_node_info", "-a").stdout.strip().splitlines()
    assert [line.split()[1] for line in every] == ["15501", "15502", "15503", "15504"], every
    status = pcp(proxy, "pcp_pool_status").stdout
    assert "name : num_init_children" in status and "value: 32" in status, status[:500]
    count = pcp(proxy, "pcp_proc_count").stdout.split()
    assert len(count) == 32, count
    with psycopg.connect(proxy.dsn()) as conn:
        conn.execute("SELECT 1")
        info = pcp(proxy, "pcp_proc_info", "-a").stdout
        assert "swiftpool_test" in info and "app_readwrite" in info, info[:1000]
    time.sleep(1.5)
    health = pcp(proxy, "pcp_health_check_stats", "-n", "1", "-v").stdout
    assert "127.0.0.1" in health and "15502" in health, health
    watchdog = pcp(proxy, "pcp_watchdog_info", check=False)
    assert "watchdog is not enabled" in watchdog.stderr, watchdog.stderr


def test_detach_attach_promote_reload(swiftpool, pcp, cluster):
    proxy = swiftpool(READS)
    pcp(proxy, "pcp_detach_node", "-n", "3")
    assert 15504 not in session_ports(proxy, 40)
    nodes = requests.get(f"http://127.0.0.1:{proxy.http_port}/api/v1/nodes/3", auth=(PCP_USER, PCP_PASSWORD), timeout=5)
    assert nodes.json()["status"] == "down", "the HTTP API and PCP disagree"
    assert 'status="down"} 1' in [l for l in requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=5).text.splitlines()
                                  if l.startswith('swiftpool_node_status{node_id="3"') and 'status="down"' in l][0]
    again = pcp(proxy, "pcp_detach_node", "-n", "3", check=False)
    assert "already down" in again.stderr, again.stderr
    pcp(proxy, "pcp_attach_node", "-n", "3")
    deadline = time.monotonic() + 20
    while 15504 not in session_ports(proxy, 20):
        assert time.monotonic() < deadline, "node 3 got no reads after pcp_attach_node"
    pcp(proxy, "pcp_detach_node", "-n", "2", "-g")
    assert requests.get(f"http://127.0.0.1:{proxy.http_port}/api/v1/nodes/2", auth=(PCP_USER, PCP_PASSWORD),
                        timeout=5).json()["status"] == "down"

    pcp(proxy, "pcp_promote_node", "-n", "1")
    assert re.search(r"^Role\s*: primary$", pcp(proxy, "pcp_node_info", "-n", "1", "-v").stdout, re.M)
    # Writes now go to node 1, which PostgreSQL still runs as a standby: they are refused there.
    with psycopg.connect(proxy.dsn()) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE promoted (i int)")
    pcp(proxy, "pcp_promote_node", "-n", "0")
    with psycopg.connect(proxy.dsn()) as conn:
        conn.execute("CREATE TEMP TABLE promoted (i int)")
    switchover = pcp(proxy, "pcp_promote_node", "-n", "1", "-s", check=False)
    assert "failover_command" in switchover.stderr, switchover.stderr

    with open(proxy.conf_path, "a") as f:
        f.write("\nbackend_weight1 = 0\nbackend_weight3 = 0\n")
    pcp(proxy, "pcp_reload_config")
    pcp(proxy, "pcp_attach_node", "-n", "2")
    deadline = time.monotonic() + 20
    while session_ports(proxy, 20) != {15503}:
        assert time.monotonic() < deadline, "the reloaded weights did not take effect"


def test_wrong_password_is_refused(swiftpool, pcp, tmp_path):
    proxy = swiftpool()
    wrong = tmp_path / "wrong"
    wrong.write_text(f"*:*:{PCP_USER}:not-the-password\n")
    os.chmod(wrong, 0o600)
    result = pcp(proxy, "pcp_node_count", password_file=wrong, check=False)
    assert "authentication failed" in result.stderr.lower(), result.stdout + result.stderr
    assert result.stdout.strip() != "4"
    assert "not-the-password" not in proxy.log()
    assert pcp(proxy, "pcp_node_count").stdout.strip() == "4"


def test_two_pcp_users_whose_names_differ_only_in_normalization_form_each_log_in(swiftpool, tmp_path):
    """pcp.conf names are compared byte for byte, on the PCP port as on the admin API: "josé" with
    a composed é and "jose" + U+0301 are two users, each with its own password."""
    users = {"jos\u00e9": "composedpass", "jose\u0301": "decomposedpass"}
    conf = f"{PCP_USER}:{hashlib.md5(PCP_PASSWORD.encode()).hexdigest()}\n" + "".join(
        f"{u}:{hashlib.md5(p.encode()).hexdigest()}\n" for u, p in users.items())
    proxy = swiftpool(pcp_conf=conf)
    for user, password in users.items():
        passfile = tmp_path / f"pcppass-{len(user)}"
        passfile.write_text(f"*:*:{user}:{password}\n")
        os.chmod(passfile, 0o600)
        env = {"PATH": os.environ["PATH"], "PCPPASSFILE": str(passfile), "HOME": str(tmp_path)}
        result = subprocess.run(["/usr/sbin/pcp_node_count", "-h", HOST, "-p", str(proxy.pcp_port), "-U", user, "-w"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "4" and "ERROR" not in result.stderr, (ascii(user), result.stdout, result.stderr)
        api = requests.get(f"http://{HOST}:{proxy.http_port}/api/v1/nodes", auth=(user.encode(), password.encode()), timeout=10)
        assert api.status_code == 200, (ascii(user), api.status_code, api.text[:200])


def read_packets(sock: socket.socket) -> list[tuple[str, bytes]]:
    data = b""
    sock.settimeout(5)
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    packets = []
    while len(data) >= 5:
        kind, length = data[0:1].decode(), struct.unpack("!i", data[1:5])[0]
        packets.append((kind, data[5:1 + length]))
        data = data[1 + length:]
    return packets


@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",           # not PCP at all
    b"L" + struct.pack("!i", 4),                       # a command before authentication
    b"M" + struct.pack("!i", 100000) + b"x" * 100,     # over the 260-byte limit
    b"R" + struct.pack("!i", 0),                       # a length below the minimum
    b"M" + struct.pack("!i", 4) + b"R" + struct.pack("!i", 6) + b"x\x00",  # credentials without a hash
])
def test_malformed_input_gets_a_fatal_and_a_closed_connection(swiftpool, pcp, payload):
    proxy = swiftpool()
    with socket.create_connection((HOST, proxy.pcp_port), timeout=5) as sock:
        sock.sendall(payload)
        packets = read_packets(sock)
    errors = [body for kind, body in packets if kind == "E"]
    assert errors and b"SFATAL" in errors[-1], packets
    assert proxy.is_running()
    assert pcp(proxy, "pcp_node_count").stdout.strip() == "4"


def test_stop_pgpool(swiftpool, pcp):
    proxy = swiftpool()
    pcp(proxy, "pcp_stop_pgpool", "-m", "fast")
    assert proxy.wait_exit(15) == 0


def test_silent_connections_time_out_and_are_capped(swiftpool, pcp):
    proxy = swiftpool({"authentication_timeout": 2})
    # A client that never authenticates is told so and cut off after authentication_timeout.
    with socket.create_connection((HOST, proxy.pcp_port), timeout=10) as sock:
        started = time.monotonic()
        sock.settimeout(10)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        elapsed = time.monotonic() - started
    assert b"authentication timeout" in data, data
    assert 1.5 <= elapsed < 8, elapsed
    # At most 32 connections at once; the next one gets a FATAL, the others stay served. (A
    # longer authentication_timeout here, so that the held ones are not cut off meanwhile.)
    capped = swiftpool({"authentication_timeout": 60})
    held = [socket.create_connection((HOST, capped.pcp_port), timeout=5) for _ in range(32)]
    try:
        time.sleep(1)
        with socket.create_connection((HOST, capped.pcp_port), timeout=5) as extra:
            packets = read_packets(extra)
        errors = [body for kind, body in packets if kind == "E"]
        assert errors and b"too many PCP connections" in errors[-1], packets
    finally:
        for sock in held:
            sock.close()
    # The closed ones free their places.
    deadline = time.monotonic() + 20
    while (count := pcp(capped, "pcp_node_count", check=False)).stdout.strip() != "4":
        assert time.monotonic() < deadline, (count.stdout, count.stderr)
        time.sleep(0.2)


SECRETS = {"wd_authkey": "wd-key-never-shown", "recovery_password": "recovery-never-shown",
           "etcd_password": "etcd-never-shown", "sr_check_password": "sr-never-shown"}


def test_every_secret_is_redacted_on_every_surface(swiftpool, pcp):
    """Each secret parameter reads as ******** on SHOW POOL_STATUS, PGPOOL SHOW, pcp_pool_status
    and /api/v1/config, and its value appears nowhere: not there, not in /metrics, not in the log."""
    proxy = swiftpool({**SECRETS, "log_min_messages": "debug1"})
    with psycopg.connect(proxy.dsn(), autocommit=True) as conn:
        status = {row[0]: row[1] for row in conn.execute("SHOW POOL_STATUS").fetchall()}
        shown = {name: conn.execute(f"PGPOOL SHOW {name}").fetchone()[0] for name in SECRETS}
        everything = repr(conn.execute("PGPOOL SHOW ALL").fetchall())
    for name in SECRETS:
        assert status[name] == "********", (name, status.get(name))
        assert shown[name] == "********", (name, shown[name])
    pool_status = pcp(proxy, "pcp_pool_status").stdout
    for name in SECRETS:
        assert re.search(rf"^name : {name}\nvalue: \*{{8}}$", pool_status, re.M), (name, pool_status[:300])
    api = requests.get(f"http://{HOST}:{proxy.http_port}/api/v1/config", auth=(PCP_USER, PCP_PASSWORD), timeout=10)
    assert api.status_code == 200
    assert all(api.json()["parameters"][name] == "********" for name in SECRETS), api.text[:300]
    metrics = requests.get(f"http://{HOST}:{proxy.http_port}/metrics", timeout=10).text
    for surface, text in {"SHOW POOL_STATUS": repr(status), "PGPOOL SHOW ALL": everything,
                          "pcp_pool_status": pool_status, "/api/v1/config": api.text,
                          "/metrics": metrics, "log": proxy.log()}.items():
        leaked = [value for value in SECRETS.values() if value in text]
        assert not leaked, (surface, leaked)
