"""The built-in status page, loaded in a real headless Chromium against a running SwiftPool."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import requests

ADMIN = ("pcpadmin", "pcpadminpass")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise AssertionError("Chromium is missing (scripts/install-deps.sh installs Debian's chromium)")


def render(url: str, screenshot: Path | None = None) -> str:
    base = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=6000",
            "--window-size=1280,760"]
    if screenshot:
        done = subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120)
        assert screenshot.exists(), done.stderr[-2000:]
    done = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def row(dom: str, node: int) -> str:
    match = re.search(rf'<tr id="node-{node}">(.*?)</tr>', dom)
    assert match, dom[-3000:]
    return match.group(1)


def test_status_page_shows_a_detached_node(swiftpool, tmp_path):
    proxy = swiftpool({"load_balance_mode": True, "backend_weight0": 0, "health_check_period": 1,
                       "health_check_user": "repmgr", "health_check_password": "", "sr_check_period": 1})
    base = f"http://127.0.0.1:{proxy.http_port}"
    page = requests.get(base + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script" in page.text and "http://" not in page.text.replace(base, ""), "the page must be self-contained"
    for _ in range(10):
        with proxy.connect(prepare_threshold=None) as conn:
            conn.execute("SELECT 1").fetchone()
    assert requests.post(base + "/api/v1/nodes/3/detach", auth=ADMIN, headers={"X-SwiftPool-Client": "tests"}, timeout=30).status_code == 200
    time.sleep(2)

    screenshot = tmp_path / "status-page.png"
    dom = render(f"{base}/#login={ADMIN[0]}:{ADMIN[1]}", screenshot)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "status-page.png")

    down = row(dom, 3)
    assert 'class="badge s-down">down<' in down and "<button>Attach</button>" in down
    primary = row(dom, 0)
    assert 'class="role-primary">primary<' in primary and ("badge s-up" in primary or "badge s-waiting" in primary)
    for node in (1, 2):
        standby = row(dom, node)
        assert "standby" in standby and "<button>Detach</button>" in standby and "<button>Promote</button>" in standby
        assert re.search(r"\d+ ok, 0 failed", standby), standby
    assert re.search(r'id="primary">node 0<', dom)
    assert re.search(r'id="nodes-summary">3 up, 1 down of 4<', dom)
    assert re.search(r'id="failovers">1<', dom)
    assert "detach 1" in dom


def test_status_page_asks_for_credentials(swiftpool):
    proxy = swiftpool({"sr_check_period": 0})
    dom = render(f"http://127.0.0.1:{proxy.http_port}/#login=pcpadmin:wrong-password")
    assert re.search(r'<form id="login" class="">', dom), dom[-2000:]
    assert "Wrong user or password." in dom
    assert 'id="node-0"' not in dom


def test_status_page_shows_the_watchdog(swiftpool):
    from conftest import free_port
    wd_port = free_port()
    proxy = swiftpool({"sr_check_period": 0, "use_watchdog": True, "wd_hostname": "127.0.0.1", "wd_port": wd_port,
                       "wd_heartbeat_port": free_port(), "wd_authkey": "status-page-key", "wd_priority": 5})
    base = f"http://127.0.0.1:{proxy.http_port}"
    deadline = time.monotonic() + 10
    while requests.get(base + "/api/v1/watchdog", auth=ADMIN, timeout=5).json().get("state") != "LEADER":
        assert time.monotonic() < deadline, "a lone member did not become leader"
        time.sleep(0.2)
    dom = render(f"{base}/#login={ADMIN[0]}:{ADMIN[1]}")
    assert '<section id="watchdog-section" class="">' in dom, dom[-3000:]
    match = re.search(r'<tr id="watchdog-0">(.*?)</tr>', dom)
    assert match, dom[-3000:]
    assert f"127.0.0.1:{wd_port}" in match.group(1) and ">LEADER<" in match.group(1) and "(this)" in match.group(1)
    assert "QUORUM EXIST (1 of 1 alive, 1 required)" in dom
