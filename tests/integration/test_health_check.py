"""Health checks: a backend that stops answering is marked down and sessions stop using it."""
from __future__ import annotations

import re
import time

import requests

from conftest import USERS


def test_stopped_standby_is_marked_down_and_no_longer_gets_reads(swiftpool, cluster):
    proxy = swiftpool({"load_balance_mode": True, "statement_level_load_balance": True,
                       "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1,
                       "health_check_period": 1, "health_check_max_retries": 1, "health_check_retry_delay": 1,
                       "health_check_timeout": 10, "health_check_user": "repmgr", "health_check_password": "",
                       "connect_timeout": 2000})
    stopped = cluster.node_port(3)
    cluster.stop_node(3)
    try:
        deadline = time.monotonic() + 20
        while "backend node 3 is now down" not in proxy.log():
            assert time.monotonic() < deadline, proxy.log()[-2000:]
            time.sleep(0.2)
        assert 'node=3' in proxy.log()
        # New sessions never try node 3.
        with proxy.connect(prepare_threshold=None) as conn:
            ports = {int(conn.execute("SELECT current_setting('port')").fetchone()[0]) for _ in range(40)}
        assert stopped not in ports
        assert "load-balance node unavailable" not in proxy.log()
    finally:
        cluster.start_node(3)
        cluster.wait_streaming()


def test_healthy_nodes_stay_up(swiftpool, cluster):
    proxy = swiftpool({"health_check_period": 1, "health_check_user": "repmgr", "health_check_password": ""})
    # Every node passed at least two health checks, none failed.
    url = f"http://127.0.0.1:{proxy.http_port}/metrics"
    deadline = time.monotonic() + 15
    while True:
        text = requests.get(url, timeout=10).text
        passed = [float(m) for m in re.findall(r'^swiftpool_health_checks_total\{[^}]*result="success"[^}]*\} (\S+)', text, re.M)]
        if len(passed) == 4 and min(passed) >= 2:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    assert all(float(m) == 0 for m in re.findall(r'^swiftpool_health_checks_total\{[^}]*result="failure"[^}]*\} (\S+)', text, re.M))
    assert "now down" not in proxy.log()
    assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"


def node_statuses(proxy) -> dict[int, str]:
    out = proxy.psql("SHOW POOL_NODES", check=True).stdout
    # Unaligned tuples: node_id|hostname|port|status|...
    rows = [line.split("|") for line in out.splitlines() if "|" in line]
    return {int(r[2]): r[3] for r in rows}


def test_nodes_are_up_once_a_health_check_reached_them(swiftpool, cluster):
    """No session uses the standbys (load balancing off); the health checks alone show them up."""
    proxy = swiftpool({"load_balance_mode": False, "health_check_period": 1, "health_check_user": "repmgr",
                       "health_check_password": "", "sr_check_period": 0})
    deadline = time.monotonic() + 10
    while True:
        statuses = node_statuses(proxy)
        if all(status == "up" for status in statuses.values()):
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.3)
    assert set(statuses) == {cluster.node_port(i) for i in range(4)}


def test_replication_delays_are_known_right_after_start(swiftpool, cluster):
    """The first replication check runs at start, not after sr_check_period."""
    import requests
    proxy = swiftpool({"sr_check_period": 60, "health_check_period": 0})
    # Well before the first sr_check_period (60 s) ends, with room for a loaded machine.
    deadline = time.monotonic() + 30
    while True:
        text = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text
        delays = [line for line in text.splitlines() if line.startswith("swiftpool_replication_delay_bytes{")]
        if len(delays) >= 3:
            break
        assert time.monotonic() < deadline, "no replication delay series within 30 s of the start"
        time.sleep(0.2)
