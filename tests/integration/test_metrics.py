"""/metrics: promtool finds nothing wrong with the native set, a real Prometheus server scrapes
it and answers PromQL with the per-node select counts the test caused, the Pgpool-II exporter's
names are there, and malformed HTTP never disturbs the data path."""
from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import HOST, USERS, free_port, wait_for_port

READS = {"load_balance_mode": True, "statement_level_load_balance": False, "sr_check_period": 1,
         "health_check_period": 1, "health_check_user": "repmgr", "health_check_password": "",
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}


def metrics(proxy) -> str:
    response = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def sample(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_promtool_accepts_the_native_set(swiftpool):
    assert shutil.which("promtool"), "promtool is missing (Debian's prometheus package)"
    proxy = swiftpool({**READS, "http_pgpool2_metrics": False})
    for _ in range(5):
        proxy.psql("SELECT 1", check=True)
    deadline = time.monotonic() + 30
    while True:   # until the first health check and replication check have run
        text = metrics(proxy)
        if ((sample(text, "swiftpool_health_checks_total", node_id="1", result="success") or 0) >= 1
                and sample(text, "swiftpool_replication_delay_bytes", node_id="2") is not None):
            break
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.2)
    assert "pgpool2_" not in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", check.stdout + check.stderr
    for family in ["swiftpool_build_info", "swiftpool_node_status", "swiftpool_node_role", "swiftpool_primary_node_id",
                   "swiftpool_node_weight", "swiftpool_node_queries_total", "swiftpool_node_errors_total",
                   "swiftpool_node_query_duration_seconds_bucket", "swiftpool_client_connections",
                   "swiftpool_client_connections_max", "swiftpool_client_connections_accepted_total",
                   "swiftpool_client_connections_rejected_total", "swiftpool_backend_connections",
                   "swiftpool_pool_occupancy_ratio", "swiftpool_client_slot_wait_seconds_bucket",
                   "swiftpool_health_check_duration_seconds_bucket", "swiftpool_health_checks_total",
                   "swiftpool_health_check_retries_total", "swiftpool_health_check_last_success_timestamp_seconds",
                   "swiftpool_replication_delay_bytes", "swiftpool_replication_delay_seconds", "swiftpool_failovers_total",
                   "swiftpool_last_failover_timestamp_seconds", "swiftpool_client_received_bytes_total",
                   "swiftpool_backend_sent_bytes_total", "process_cpu_seconds_total", "process_resident_memory_bytes",
                   "process_open_fds", "process_start_time_seconds"]:
        assert f"\n{family}" in text, family
    assert sample(text, "swiftpool_primary_node_id") == 0
    assert sample(text, "swiftpool_node_status", node_id="0", status="up") == 1
    assert sample(text, "swiftpool_client_connections_accepted_total") >= 5
    assert sample(text, "swiftpool_health_checks_total", node_id="1", result="success") >= 1
    assert sample(text, "swiftpool_replication_delay_bytes", node_id="2") is not None
    assert sample(text, "process_resident_memory_bytes") > 1_000_000


def test_pgpool2_exporter_names(swiftpool, cluster):
    proxy = swiftpool(READS)
    with proxy.connect(prepare_threshold=None) as conn:
        port = conn.execute("SELECT current_setting('port')").fetchone()[0]
    text = metrics(proxy)
    for name in ["pgpool2_up", "pgpool2_pool_nodes_status", "pgpool2_pool_nodes_select_cnt",
                 "pgpool2_pool_nodes_replication_delay", "pgpool2_pool_backend_stats_status",
                 "pgpool2_pool_backend_stats_select_cnt", "pgpool2_pool_backend_stats_insert_cnt",
                 "pgpool2_pool_backend_stats_error_cnt", "pgpool2_pool_health_check_stats_total_count",
                 "pgpool2_pool_health_check_stats_average_duration", "pgpool2_frontend_total",
                 "pgpool2_frontend_used_ratio", "pgpool2_backend_total", "pgpool2_backend_used",
                 "pgpool2_scrapes_total", "pgpool2_last_scrape_duration_seconds"]:
        assert f"\n{name}" in text, name
    assert sample(text, "pgpool2_pool_nodes_select_cnt", hostname="127.0.0.1", port=port) == 1
    assert sample(text, "pgpool2_pool_nodes_status", hostname="127.0.0.1", port="15501", role="primary") == 1
    assert sample(text, "pgpool2_frontend_total") == 32


def test_prometheus_scrapes_the_select_counts(swiftpool, cluster, tmp_path):
    assert shutil.which("prometheus"), "prometheus is missing (Debian's prometheus package)"
    proxy = swiftpool(READS)
    prometheus_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: swiftpool
    static_configs:
      - targets: ['127.0.0.1:{proxy.http_port}']
""")
    server = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
    try:
        wait_for_port(prometheus_port, timeout=30, proc=server, log_path=tmp_path / "prometheus.log")
        sent: dict[str, int] = {}
        for _ in range(30):
            with proxy.connect(prepare_threshold=None) as conn:
                port = conn.execute("SELECT current_setting('port')").fetchone()[0]
                sent[port] = sent.get(port, 0) + 1
        assert len(sent) >= 2, sent

        def promql() -> dict[str, float]:
            query = urllib.parse.urlencode({"query": 'swiftpool_node_queries_total{kind="select"}'})
            answer = requests.get(f"http://127.0.0.1:{prometheus_port}/api/v1/query?{query}", timeout=5).json()
            assert answer["status"] == "success"
            return {r["metric"]["port"]: float(r["value"][1]) for r in answer["data"]["result"]}

        deadline = time.monotonic() + 30
        while True:
            seen = promql()
            expected = {str(p): float(sent.get(str(p), 0)) for p in (15501, 15502, 15503, 15504)}
            if seen == expected:
                break
            assert time.monotonic() < deadline, f"Prometheus has {seen}, the test sent {expected}"
            time.sleep(0.5)
        print(f"Prometheus sees the select counts the test sent: {seen}")
    finally:
        server.terminate()
        server.wait(10)


def raw_http(port: int, payload: bytes, read: bool = True, timeout: float = 15) -> bytes:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        if not read:
            return b""
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (ConnectionResetError, socket.timeout):
            pass
        return b"".join(chunks)


def test_the_classification_cache_is_counted_by_store(swiftpool):
    """Simple queries that differ only in their literals share a template, a Parse text sent again
    is matched whole: both count as cache hits; SET reads its value, so its template is never
    kept and each one counts as a miss. (Sessions that send everything to the primary in
    session mode count statements by their first word and classify only what that cannot tell.)"""
    proxy = swiftpool(READS)

    def counts() -> dict[tuple[str, str], float]:
        text = metrics(proxy)
        return {(kind, store): sample(text, f"swiftpool_classification_cache_{kind}", store=store)
                for kind in ("hits_total", "misses_total", "entries") for store in ("parse", "query_template")}

    before = counts()
    assert None not in before.values(), before
    selects = [f"SELECT {n} + {n * 1000}" for n in range(1, 7)]
    sets = ["SET application_name = 'one'", "SET application_name = 'two'"]
    extra = [arg for query in selects + sets[:-1] for arg in ("-c", query)]
    out = proxy.psql(sets[-1], extra_args=extra, check=True)
    assert out.stdout.split() == [str(n + n * 1000) for n in range(1, 7)] + ["SET", "SET"], out.stdout
    with proxy.connect(prepare_threshold=None) as conn:   # an unnamed Parse for every execution
        for n in range(6):
            assert conn.execute("SELECT %s::int * 3", (n,)).fetchone()[0] == n * 3
    after = counts()
    delta = {key: after[key] - before[key] for key in after}
    # One connection each, so one event loop each: the first of a kind is classified.
    assert delta[("hits_total", "query_template")] == 5, delta
    assert delta[("misses_total", "query_template")] == 3, delta
    assert delta[("hits_total", "parse")] == 5, delta
    assert delta[("misses_total", "parse")] == 1, delta
    assert after[("entries", "query_template")] >= 1 and after[("entries", "parse")] >= 1, after


def test_malformed_http_leaves_the_data_path_alone(swiftpool, cluster):
    proxy = swiftpool({**READS, "num_init_children": 16})
    pgbench = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    env = {"PGPASSWORD": USERS["postgres"], "PATH": "/usr/bin:/bin"}
    init = subprocess.run([pgbench, "-i", "-q", "-s", "1", "-h", HOST, "-p", str(cluster.node_port(0)), "-U", "postgres",
                           "swiftpool_test"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    bench = subprocess.Popen([pgbench, "-S", "-c", "4", "-T", "12", "-h", HOST, "-p", str(proxy.port), "-U", "postgres",
                              "swiftpool_test"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = proxy.http_port
    # A client that sends half a request and goes quiet.
    slow = socket.create_connection((HOST, port))
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    # Many slow clients at once.
    idle = [socket.create_connection((HOST, port)) for _ in range(20)]
    try:
        bad_method = raw_http(port, b"BREW /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert bad_method.split(b" ")[1] == b"405", bad_method[:200]
        huge_header = raw_http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        assert huge_header == b"" or huge_header.split(b" ")[1] in (b"400", b"413", b"431"), huge_header[:200]
        big_body = requests.post(f"http://127.0.0.1:{port}/api/v1/reload", auth=("pcpadmin", "pcpadminpass"),
                                 data=b"x" * 10_000_000, timeout=30)
        assert big_body.status_code == 413
        garbage = raw_http(port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        assert garbage == b"" or garbage.split(b" ")[1].startswith(b"4"), garbage[:200]
        # Meanwhile the server still answers well-formed requests.
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        # The slow client is cut off by the idle timeout.
        slow.settimeout(20)
        started = time.monotonic()
        try:
            leftover = slow.recv(1024)
        except ConnectionResetError:
            leftover = b""
        assert leftover == b"" or leftover.startswith(b"HTTP/1.1 4"), leftover
        assert time.monotonic() - started < 20
    finally:
        slow.close()
        for s in idle:
            s.close()
    out, err = bench.communicate(timeout=60)
    assert bench.returncode == 0, out + err
    assert "number of failed transactions: 0" in out, out
    tps = [line for line in out.splitlines() if line.startswith("tps")]
    print("pgbench alongside malformed HTTP:", tps)
    assert proxy.is_running()


def test_http_keeps_answering_with_over_a_thousand_client_connections(swiftpool):
    """SwiftPool's descriptors pass 1024 (select()'s limit) with this many clients."""
    proxy = swiftpool({"num_init_children": 20, "client_wait_timeout": 120, "authentication_timeout": 120,
                       "listen_backlog_multiplier": 60, "sr_check_period": 0})
    startup = struct.pack("!i", 196608) + b"user\0app_readwrite\0database\0swiftpool_test\0\0"
    packet = struct.pack("!i", len(startup) + 4) + startup
    clients = []
    try:
        for _ in range(1100):
            client = socket.create_connection((HOST, proxy.port))
            client.sendall(packet)
            clients.append(client)
        assert requests.get(f"http://127.0.0.1:{proxy.http_port}/healthz", timeout=10).status_code == 200
        deadline = time.monotonic() + 30
        while True:   # until the proxy has read every startup packet
            text = metrics(proxy)
            if sample(text, "swiftpool_client_connections", state="waiting") >= 1000:
                break
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(0.5)
        assert sample(text, "process_open_fds") > 1024
    finally:
        for client in clients:
            client.close()
