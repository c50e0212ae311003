"""prometheus/, grafana/ and compose/: rules and their unit tests pass promtool, every PromQL
expression parses in a real Prometheus and names only metrics a live SwiftPool exposes (the
watchdog's metrics, which exist only with use_watchdog = on, against a two-member watchdog pair),
a stopped standby makes the backend-down alert fire, and docker-compose accepts compose/."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import yaml

from conftest import REPO_ROOT, free_port, swiftpool_binary, wait_for_port

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
DASHBOARDS = sorted((REPO_ROOT / "grafana" / "dashboards").glob("*.json"))
METRIC = re.compile(r"\b((?:swiftpool|pgpool2|process)_[a-z0-9_]+)")
# Exported only while use_watchdog = on; swiftpool_watchdog_enabled is always there.
WATCHDOG_ONLY = re.compile(r"swiftpool_watchdog_(?!enabled$)[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which("promtool"), "promtool is missing (Debian's prometheus package)"
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


def test_promtool_config_rules_and_rule_unit_tests():
    for args in (("check", "config", str(PROMETHEUS_DIR / "prometheus.yml")),
                 ("check", "rules", str(PROMETHEUS_DIR / "alerts.yml")),
                 ("test", "rules", str(PROMETHEUS_DIR / "alerts_test.yml"))):
        result = promtool(*args)
        assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    tested = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tested for case in test["alert_rule_test"]]
    for rule in rules:
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} is never tested firing"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} is never tested quiet"
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key), f"{rule['alert']} lacks {key}"


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
        for variable in dashboard["templating"]["list"]:
            query = variable.get("query")
            if isinstance(query, dict):
                match = re.fullmatch(r"label_values\((.*), *\w+\)", query["query"])
                found.append((f"{path.name}: ${variable['name']}", match.group(1) if match else query["query"]))
        for annotation in dashboard["annotations"]["list"]:
            found.append((f"{path.name}: annotation {annotation['name']}", annotation["expr"]))
    return found


def concrete(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*").replace("$node", ".*").replace("$hostname", ".*")


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(target_port: int, rules: bool = False):
        assert shutil.which("prometheus"), "prometheus is missing (Debian's prometheus package)"
        port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "swiftpool", "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}]}
        if rules:
            shutil.copy(PROMETHEUS_DIR / "alerts.yml", tmp_path / "alerts.yml")
            config["rule_files"] = [str(tmp_path / "alerts.yml")]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = tmp_path / "prometheus.log"
        process = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                                    f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                                   stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
        started.append(process)
        wait_for_port(port, timeout=30, proc=process, log_path=log)
        return f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def metric_families(proxy) -> tuple[set[str], set[str]]:
    """The metric families a running SwiftPool declares (# TYPE lines), and the histograms among them."""
    text = requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text
    types = [line.split() for line in text.splitlines() if line.startswith("# TYPE ")]
    return {t[2] for t in types}, {t[2] for t in types if t[3] == "histogram"}


def start_watchdog_pair(swiftpool) -> list:
    """Two SwiftPools on 127.0.0.1 forming a watchdog cluster (4.2+ style: one member list, the
    local id in pgpool_node_id); member 0 has the higher wd_priority."""
    ports = [free_port() for _ in range(2)]
    wd_ports = [free_port() for _ in range(2)]
    heartbeat_ports = [free_port() for _ in range(2)]
    shared = {"use_watchdog": True, "wd_authkey": "ops-kit-test", "wd_lifecheck_method": "heartbeat",
              "wd_heartbeat_keepalive": 1, "wd_heartbeat_deadtime": 5, "enable_consensus_with_half_votes": True,
              "health_check_period": 1, "health_check_user": "repmgr", "health_check_password": "", "sr_check_period": 1}
    for i in range(2):
        shared.update({f"hostname{i}": "127.0.0.1", f"wd_port{i}": wd_ports[i], f"pgpool_port{i}": ports[i],
                       f"heartbeat_hostname{i}": "127.0.0.1", f"heartbeat_port{i}": heartbeat_ports[i]})
    members = []
    for i in range(2):
        member = swiftpool({**shared, "port": ports[i], "wd_priority": 2 - i}, name=f"wd{i}", start=False)
        (member.dir / "pgpool_node_id").write_text(f"{i}\n")
        members.append(member)
    for member in members:
        member.start()
    return members


def test_every_expression_parses_and_names_live_metrics(swiftpool, prometheus):
    proxy = swiftpool({"load_balance_mode": True, "health_check_period": 1, "health_check_user": "repmgr",
                       "health_check_password": "", "sr_check_period": 1})
    for _ in range(5):
        proxy.psql("SELECT 1", check=True)
    exposed, histograms = metric_families(proxy)
    # The watchdog's own metrics are checked against a SwiftPool that runs the watchdog.
    watchdog_member = start_watchdog_pair(swiftpool)[0]
    deadline = time.monotonic() + 30
    while True:
        watchdog_exposed, _ = metric_families(watchdog_member)
        if any(WATCHDOG_ONLY.fullmatch(name) for name in watchdog_exposed) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    base = prometheus(proxy.http_port)
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    expressions = dashboard_expressions() + [(f"alert {r['alert']}", r["expr"]) for r in rules]
    assert len(expressions) > 40
    for where, expr in expressions:
        answer = requests.get(f"{base}/api/v1/query", params={"query": concrete(expr)}, timeout=10).json()
        assert answer["status"] == "success", (where, expr, answer)
        for name in METRIC.findall(expr):
            if WATCHDOG_ONLY.fullmatch(name):
                assert name in watchdog_exposed, f"{where} uses {name}, which SwiftPool does not expose with use_watchdog = on"
                continue
            family = re.sub(r"_(bucket|sum|count)$", "", name) if re.sub(r"_(bucket|sum|count)$", "", name) in histograms else name
            assert family in exposed, f"{where} uses {name}, which SwiftPool does not expose"


def test_backend_down_alert_fires_for_a_stopped_standby(swiftpool, prometheus, cluster):
    proxy = swiftpool({"health_check_period": 1, "health_check_timeout": 2, "health_check_max_retries": 0,
                       "connect_timeout": 1000, "health_check_user": "repmgr", "health_check_password": "",
                       "sr_check_period": 0})
    base = prometheus(proxy.http_port, rules=True)
    time.sleep(2)
    cluster.stop_node(2, immediate=True)
    stopped = time.monotonic()
    try:
        deadline = stopped + 40
        while True:
            alerts = requests.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            mine = [a for a in alerts if a["labels"]["alertname"] == "SwiftPoolBackendDown" and a["labels"]["node_id"] == "2"]
            if mine and mine[0]["state"] in ("pending", "firing"):
                break
            assert time.monotonic() < deadline, alerts
            time.sleep(0.5)
        print(f"SwiftPoolBackendDown {mine[0]['state']} {time.monotonic() - stopped:.1f} s after the standby stopped")
        assert mine[0]["annotations"]["summary"].startswith("Backend node 2 (127.0.0.1:15503) is down")
    finally:
        cluster.start_node(2)
        cluster.wait_streaming()


def test_docker_compose_accepts_the_reference_deployment(tmp_path):
    assert shutil.which("docker-compose"), "docker-compose is missing (Debian's docker-compose package)"
    env = tmp_path / ".env"
    shutil.copy(REPO_ROOT / "compose" / ".env.example", env)
    result = subprocess.run(["docker-compose", "--env-file", str(env), "-f", str(REPO_ROOT / "compose" / "docker-compose.yml"),
                             "config"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {"pg-1", "pg-2", "pg-3", "pg-4", "swiftpool-1", "swiftpool-2", "prometheus", "grafana"}
    ports = {name: [str(p.get("published", p) if isinstance(p, dict) else p) for p in service.get("ports", [])]
             for name, service in config["services"].items()}
    assert any("15432" in p for p in ports["swiftpool-1"]) and any("15433" in p for p in ports["swiftpool-2"])
    assert any("9720" in p for p in ports["swiftpool-2"]) and any("19899" in p for p in ports["swiftpool-2"])
    for conf in ("pgpool-1.conf", "pgpool-2.conf"):
        check = subprocess.run([str(swiftpool_binary()), "-f", str(REPO_ROOT / "compose" / "swiftpool" / conf), "check"],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
