"""The embedded HTTP server: probes, authentication, every admin route with its errors, node
operations that change routing, reload, and OpenAPI conformance (schemathesis)."""
from __future__ import annotations

import shutil
import subprocess
import time

import psycopg
import pytest
import requests


def post(target: str, **kwargs):
    """POST as curl and scripts do: with the header that marks a non-browser client."""
    headers = {"X-SwiftPool-Client": "tests", **kwargs.pop("headers", {})}
    return requests.post(target, headers=headers, **kwargs)

from conftest import REPO_ROOT, session_ports

ADMIN = ("pcpadmin", "pcpadminpass")
READS = {"load_balance_mode": True, "statement_level_load_balance": False, "sr_check_period": 0,
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}


def url(proxy, path: str) -> str:
    return f"http://127.0.0.1:{proxy.http_port}{path}"


def test_probes_need_no_authentication(swiftpool):
    proxy = swiftpool()
    health = requests.get(url(proxy, "/healthz"), timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = requests.get(url(proxy, "/readyz"), timeout=5)
    assert ready.status_code == 200 and ready.json() == {"ready": True, "primary_node_id": 0}
    metrics = requests.get(url(proxy, "/metrics"), timeout=5)
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")


ADMIN_ROUTES = [("GET", "/api/v1/status"), ("GET", "/api/v1/nodes"), ("GET", "/api/v1/nodes/1"),
                ("POST", "/api/v1/nodes/1/detach"), ("POST", "/api/v1/nodes/1/attach"),
                ("POST", "/api/v1/nodes/1/promote"), ("POST", "/api/v1/reload"), ("GET", "/api/v1/pool"),
                ("GET", "/api/v1/sessions"), ("GET", "/api/v1/config")]


def test_admin_routes_refuse_missing_and_wrong_credentials(swiftpool, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-value\n")
    proxy = swiftpool({"http_bearer_token_file": str(token_file)})
    for method, path in ADMIN_ROUTES:
        for auth, headers in [(None, {}), (("pcpadmin", "wrong-password-123"), {}), (("nobody", "pcpadminpass"), {}),
                              (None, {"Authorization": "Bearer not-the-token"}), (None, {"Authorization": "Digest x"})]:
            response = requests.request(method, url(proxy, path), auth=auth, headers=headers, timeout=5)
            assert response.status_code == 401, (method, path, auth, headers, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert "wrong-password-123" not in proxy.log()
    assert "not-the-token" not in proxy.log()
    assert "admin API authentication failed" in proxy.log()
    # Both kinds of credentials work.
    assert requests.get(url(proxy, "/api/v1/status"), auth=ADMIN, timeout=5).status_code == 200
    bearer = requests.get(url(proxy, "/api/v1/status"), headers={"Authorization": "Bearer s3cret-token-value"}, timeout=5)
    assert bearer.status_code == 200


def test_metrics_authentication_is_optional(swiftpool):
    proxy = swiftpool({"http_metrics_auth": True})
    assert requests.get(url(proxy, "/metrics"), timeout=5).status_code == 401
    assert requests.get(url(proxy, "/metrics"), auth=ADMIN, timeout=5).status_code == 200
    assert requests.get(url(proxy, "/healthz"), timeout=5).status_code == 200


def test_read_routes(swiftpool, cluster):
    proxy = swiftpool({**READS, "health_check_period": 1, "health_check_user": "repmgr",
                       "health_check_password": "TEXTnot-shown-anywhere"})
    nodes = requests.get(url(proxy, "/api/v1/nodes"), auth=ADMIN, timeout=5).json()["nodes"]
    assert [(n["id"], n["port"], n["role"]) for n in nodes] == [
        (0, 15501, "primary"), (1, 15502, "standby"), (2, 15503, "standby"), (3, 15504, "standby")]
    assert all(n["status"] in ("waiting", "up") for n in nodes)
    one = requests.get(url(proxy, "/api/v1/nodes/2"), auth=ADMIN, timeout=5)
    assert one.status_code == 200 and one.json()["port"] == 15503
    missing = requests.get(url(proxy, "/api/v1/nodes/9"), auth=ADMIN, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert requests.get(url(proxy, "/api/v1/nodes/abc"), auth=ADMIN, timeout=5).status_code == 400
    assert requests.get(url(proxy, "/api/v1/nothing"), auth=ADMIN, timeout=5).status_code == 404
    assert requests.get(url(proxy, "/nothing"), timeout=5).status_code == 404
    wrong_method = post(url(proxy, "/api/v1/nodes"), auth=ADMIN, timeout=5)
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]
    assert requests.get(url(proxy, "/api/v1/nodes/1/detach"), auth=ADMIN, timeout=5).status_code == 405
    assert requests.delete(url(proxy, "/metrics"), timeout=5).status_code == 405

    with psycopg.connect(proxy.dsn(), application_name="api-test", autocommit=True) as conn:
        conn.execute("SELECT 1")
        sessions = requests.get(url(proxy, "/api/v1/sessions"), auth=ADMIN, timeout=5).json()["sessions"]
        mine = [s for s in sessions if s["application_name"] == "api-test"]
        assert len(mine) == 1, sessions
        assert mine[0]["user"] == "app_readwrite" and mine[0]["database"] == "swiftpool_test"
        assert mine[0]["state"] == "idle" and mine[0]["backend_nodes"][0] == 0
        conn.execute("BEGIN")
        sessions = requests.get(url(proxy, "/api/v1/sessions"), auth=ADMIN, timeout=5).json()["sessions"]
        assert [s["state"] for s in sessions if s["application_name"] == "api-test"] == ["idle in transaction"]
        pool = requests.get(url(proxy, "/api/v1/pool"), auth=ADMIN, timeout=5).json()
        assert pool["client_slots_used"] >= 1 and pool["client_slots_max"] == 32
        assert pool["nodes"][0]["in_use"] >= 1
        status = requests.get(url(proxy, "/api/v1/status"), auth=ADMIN, timeout=5).json()
        assert status["primary_node_id"] == 0 and status["nodes_total"] == 4 and status["nodes_up"] == 4
        assert status["clients"]["idle_in_transaction"] == 1 and status["clients"]["max"] == 32

    config = requests.get(url(proxy, "/api/v1/config"), auth=ADMIN, timeout=5)
    parameters = config.json()["parameters"]
    assert parameters["health_check_password"] == "********"
    assert parameters["port"] == str(proxy.port)
    assert parameters["backend_port3"] == "15504"
    assert "not-shown-anywhere" not in config.text
    assert "not-shown-anywhere" not in requests.get(url(proxy, "/metrics"), timeout=5).text


def test_detach_and_attach_change_reads(swiftpool, cluster):
    proxy = swiftpool(READS)
    assert 15504 in session_ports(proxy, 60)
    detached = post(url(proxy, "/api/v1/nodes/3/detach"), auth=ADMIN, timeout=30)
    assert detached.status_code == 200, detached.text
    assert detached.json()["node"]["status"] == "down"
    assert 15504 not in session_ports(proxy, 40)
    again = post(url(proxy, "/api/v1/nodes/3/detach"), auth=ADMIN, timeout=30)
    assert again.status_code == 409 and "already down" in again.json()["error"]["message"]
    assert post(url(proxy, "/api/v1/nodes/3/detach?mode=sideways"), auth=ADMIN, timeout=5).status_code == 400
    assert post(url(proxy, "/api/v1/nodes/3/detach"), auth=ADMIN, data="{not json", timeout=5).status_code == 400
    assert post(url(proxy, "/api/v1/nodes/7/attach"), auth=ADMIN, timeout=5).status_code == 404
    readyz = requests.get(url(proxy, "/readyz"), timeout=5)
    assert readyz.status_code == 200

    attached = post(url(proxy, "/api/v1/nodes/3/attach"), auth=ADMIN, timeout=30)
    assert attached.status_code == 200 and attached.json()["node"]["status"] == "waiting"
    assert post(url(proxy, "/api/v1/nodes/3/attach"), auth=ADMIN, timeout=5).status_code == 409
    deadline = time.monotonic() + 20
    while 15504 not in session_ports(proxy, 20):
        assert time.monotonic() < deadline, "node 3 got no reads after attach"

    # A graceful detach lets a session on the node finish its work.
    with psycopg.connect(proxy.dsn(), prepare_threshold=None) as conn:
        conn.execute("BEGIN")
        graceful = post(url(proxy, "/api/v1/nodes/2/detach"), auth=ADMIN, json={"mode": "graceful"}, timeout=30)
        assert graceful.status_code == 200
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.execute("COMMIT")


def test_readyz_follows_the_primary(swiftpool):
    proxy = swiftpool({"sr_check_period": 0, "search_primary_node_timeout": 0})
    assert requests.get(url(proxy, "/readyz"), timeout=5).status_code == 200
    assert post(url(proxy, "/api/v1/nodes/0/detach"), auth=ADMIN, timeout=30).status_code == 200
    not_ready = requests.get(url(proxy, "/readyz"), timeout=5)
    assert not_ready.status_code == 503 and not_ready.json() == {"ready": False}
    # The primary search does not hold up the operator's attach.
    started = time.monotonic()
    assert post(url(proxy, "/api/v1/nodes/0/attach"), auth=ADMIN, timeout=30).status_code == 200
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 10
    while requests.get(url(proxy, "/readyz"), timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "readyz did not come back after attaching the primary"
        time.sleep(0.2)


def test_detaching_every_node_stops_at_the_last_one(swiftpool):
    proxy = swiftpool({"sr_check_period": 0})
    for node in (1, 2, 3):
        assert post(url(proxy, f"/api/v1/nodes/{node}/detach"), auth=ADMIN, timeout=30).status_code == 200
    last = post(url(proxy, "/api/v1/nodes/0/detach"), auth=ADMIN, timeout=30)
    assert last.status_code == 409 and "last usable node" in last.json()["error"]["message"]
    assert proxy.psql("SELECT 1", check=True).stdout.strip() == "1"


def test_promote_without_switchover_moves_writes(swiftpool, cluster):
    proxy = swiftpool({"sr_check_period": 0})
    assert post(url(proxy, "/api/v1/nodes/0/promote"), auth=ADMIN, timeout=5).status_code == 409
    assert post(url(proxy, "/api/v1/nodes/1/promote?switchover=maybe"), auth=ADMIN, timeout=5).status_code == 400
    # A switchover needs failover_command to promote the node.
    switchover = post(url(proxy, "/api/v1/nodes/1/promote"), auth=ADMIN, json={"switchover": True}, timeout=5)
    assert switchover.status_code == 409 and "failover_command" in switchover.json()["error"]["message"]
    promoted = post(url(proxy, "/api/v1/nodes/1/promote"), auth=ADMIN, timeout=30)
    assert promoted.status_code == 200 and promoted.json()["node"]["role"] == "primary"
    # SwiftPool now sends sessions to node 1, which is still a standby: writes are refused there.
    with psycopg.connect(proxy.dsn()) as conn:
        assert conn.execute("SELECT current_setting('port')").fetchone()[0] == "15502"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE t (i int)")
    assert post(url(proxy, "/api/v1/nodes/0/promote"), auth=ADMIN, timeout=30).status_code == 200
    with psycopg.connect(proxy.dsn()) as conn:
        conn.execute("CREATE TEMP TABLE t (i int)")


def test_reload_through_the_api(swiftpool, cluster):
    proxy = swiftpool(READS)
    assert session_ports(proxy, 60) >= {15502, 15503, 15504}
    with open(proxy.conf_path, "a") as f:
        f.write("\nbackend_weight1 = 0\nbackend_weight2 = 0\nport = 1\n".replace("port = 1", f"port = {proxy.port + 1}"))
    report = post(url(proxy, "/api/v1/reload"), auth=ADMIN, timeout=10)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["reloaded"] is True
    assert {"backend_weight1", "backend_weight2", "port"} <= set(body["changed"])
    assert body["restart_required"] == ["port"]
    assert session_ports(proxy, 30) == {15504}

    with open(proxy.conf_path, "a") as f:
        f.write("\nbackend_weight1 = 1\nnum_init_children = abc\n")
    refused = post(url(proxy, "/api/v1/reload"), auth=ADMIN, timeout=10)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_configuration"
    assert "pgpool.conf:" in error["message"] and "num_init_children" in error["message"]
    assert session_ports(proxy, 30) == {15504}, "a refused reload changed the weights"


def test_responses_follow_the_openapi_document(swiftpool, tmp_path):
    assert shutil.which("schemathesis"), "schemathesis is missing (scripts/install-deps.sh installs it)"
    proxy = swiftpool({"sr_check_period": 0})
    result = subprocess.run(
        ["schemathesis", "run", str(REPO_ROOT / "docs" / "openapi.yaml"), "--url", url(proxy, ""),
         "--auth", "pcpadmin:pcpadminpass", "--checks", "all", "--max-examples", "15", "--seed", "1",
         "--no-color", "--request-timeout", "30", "--suppress-health-check", "all",
         # 503 is /readyz's documented answer without a primary (checked in test_readyz_follows_the_primary).
         "--exclude-path", "/readyz"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # schemathesis keeps a cache in its directory
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert proxy.is_running()


def test_state_changes_refuse_what_a_cross_site_form_can_send(swiftpool):
    proxy = swiftpool({"sr_check_period": 0})
    target = url(proxy, "/api/v1/nodes/3/detach")
    form = requests.post(target, auth=ADMIN, data={"mode": "immediate"}, timeout=10)
    assert form.status_code == 403 and form.json()["error"]["code"] == "forbidden", form.text
    bare = requests.post(target, auth=ADMIN, timeout=10)
    assert bare.status_code == 403, bare.text
    foreign = requests.post(target, auth=ADMIN, json={"mode": "immediate"}, headers={"Origin": "https://evil.example"}, timeout=10)
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["error"]["message"], foreign.text
    nodes = requests.get(url(proxy, "/api/v1/nodes/3"), auth=ADMIN, timeout=5).json()
    assert nodes["status"] != "down", "a refused request changed nothing"
    same_site = requests.post(target, auth=ADMIN, json={"mode": "immediate"},
                              headers={"Origin": f"http://127.0.0.1:{proxy.http_port}"}, timeout=30)
    assert same_site.status_code == 200, same_site.text
    assert requests.get(url(proxy, "/api/v1/nodes/3"), auth=ADMIN, timeout=5).json()["status"] == "down"
    assert post(url(proxy, "/api/v1/nodes/3/attach"), auth=ADMIN, timeout=30).status_code == 200



def test_reload_keeps_what_needs_a_restart(swiftpool, cluster):
    proxy = swiftpool(READS)
    assert 15504 in session_ports(proxy, 60)
    with open(proxy.conf_path, "a") as f:
        f.write("\nbackend_port3 = 15599\nport = 1\n".replace("port = 1", f"port = {proxy.port + 1}"))
    report = post(url(proxy, "/api/v1/reload"), auth=ADMIN, timeout=10).json()
    assert report["reloaded"] is True and set(report["restart_required"]) == {"backend_port3", "port"}, report
    # What the log says ("the old value stays in effect") is what happens and what is shown.
    assert "\"backend_port3\" changed but needs a restart" in proxy.log()
    config = requests.get(url(proxy, "/api/v1/config"), auth=ADMIN, timeout=5).json()["parameters"]
    assert config["backend_port3"] == "15504" and config["port"] == str(proxy.port), config
    node = requests.get(url(proxy, "/api/v1/nodes/3"), auth=ADMIN, timeout=5).json()
    assert node["port"] == 15504 and node["status"] in ("up", "waiting"), node
    assert 15504 in session_ports(proxy, 60), "node 3 still serves reads on its running port"
