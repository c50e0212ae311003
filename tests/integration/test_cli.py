"""The command line: version, check mode, config errors, stop and reload via the pid file."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import DEMO_CONFIG_DIR, REPO_ROOT, auth_sqlstate, port_open, swiftpool_binary


def demo_copy(tmp_path):
    """A copy of config/demo (pgpool.conf with its pool_passwd and pool_hba.conf)."""
    for f in DEMO_CONFIG_DIR.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    return tmp_path / "pgpool.conf"


def run(*args, timeout=60):
    return subprocess.run([str(swiftpool_binary()), *args], capture_output=True, text=True, timeout=timeout)


def test_version():
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip()[0].isdigit()


def test_check_accepts_the_shipped_configs():
    for conf in (DEMO_CONFIG_DIR / "pgpool.conf", REPO_ROOT / "config" / "reference" / "pgpool.conf"):
        out = run("-f", str(conf), "check")
        assert out.returncode == 0, out.stderr
        assert "configuration is valid" in out.stdout


def test_invalid_value_names_file_line_and_parameter(tmp_path):
    conf = demo_copy(tmp_path)
    lines = conf.read_text().splitlines()
    lines.append("num_init_children = lots")
    conf.write_text("\n".join(lines) + "\n")
    for args in (("-f", str(conf), "check"), ("-f", str(conf), "-n")):
        out = run(*args, timeout=20)
        assert out.returncode == 1, out
        assert f"{conf}:{len(lines)}" in out.stderr
        assert "num_init_children" in out.stderr


def test_unknown_parameter_is_a_warning_with_file_and_line(tmp_path):
    conf = demo_copy(tmp_path)
    text = conf.read_text() + "no_such_parameter = 1\n"
    conf.write_text(text)
    out = run("-f", str(conf), "check")
    assert out.returncode == 0
    line = len(text.splitlines())
    assert f"{conf}:{line}" in out.stderr and "no_such_parameter" in out.stderr


def test_stop_and_reload_through_the_pid_file(swiftpool):
    proxy = swiftpool(pool_hba="host all all 127.0.0.1/32 scram-sha-256\n")
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") is None
    # Reload: a new pool_hba.conf rejects app_readonly.
    (proxy.dir / "pool_hba.conf").write_text(
        "host all app_readonly 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 scram-sha-256\n")
    out = run("-f", str(proxy.conf_path), "-a", str(proxy.dir / "pool_hba.conf"), "reload")
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 5
    while auth_sqlstate(proxy.port, "app_readonly", "readonly123") != "28000":
        assert time.monotonic() < deadline, "reload did not take effect"
        time.sleep(0.2)
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None
    # Stop.
    out = run("-f", str(proxy.conf_path), "stop", "-m", "fast")
    assert out.returncode == 0, out.stderr
    assert proxy.wait_exit(10) == 0
    assert not os.path.exists(proxy.params["pid_file_name"].strip("'"))


def test_second_instance_refuses_the_same_pid_file(swiftpool):
    proxy = swiftpool()
    out = run("-f", str(proxy.conf_path), "-n", timeout=20)
    assert out.returncode == 1
    assert "another swiftpool instance" in out.stderr
    assert proxy.is_running()


def test_stop_without_a_running_instance_fails_clearly(tmp_path):
    conf = demo_copy(tmp_path)
    with open(conf, "a") as f:
        f.write(f"pid_file_name = '{tmp_path}/none.pid'\n")
    out = run("-f", str(conf), "stop")
    assert out.returncode == 1
    assert "none.pid" in out.stderr


def test_sighup_reloads_and_sigquit_stops_at_once(swiftpool):
    """SIGHUP re-reads the files; SIGQUIT (immediate) ends the open session, closes every port
    and removes the pid file."""
    proxy = swiftpool({"log_min_messages": "info"}, pool_hba="host all all 127.0.0.1/32 scram-sha-256\n")
    pid_file = proxy.params["pid_file_name"].strip("'")
    assert os.path.exists(pid_file)
    (proxy.dir / "pool_hba.conf").write_text(
        "host all app_readonly 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 scram-sha-256\n")
    proxy.reload()
    deadline = time.monotonic() + 5
    while auth_sqlstate(proxy.port, "app_readonly", "readonly123") != "28000":
        assert time.monotonic() < deadline, "SIGHUP did not reload pool_hba.conf"
        time.sleep(0.2)
    assert proxy.is_running()
    session = proxy.connect()
    assert session.execute("SELECT 1").fetchone() == (1,)
    assert proxy.stop(signal.SIGQUIT, 10) == 0
    session.close()
    assert not os.path.exists(pid_file)
    for port in (proxy.port, proxy.pcp_port, proxy.http_port):
        assert not port_open(port), f"port {port} still open after shutdown"
    log = proxy.log()
    assert "mode=immediate" in log and "swiftpool stopped" in log, log[-2000:]


def test_a_component_that_cannot_start_stops_the_ones_already_started(swiftpool):
    """The PCP port starts last; when it is taken, the proxy and HTTP listeners that already
    started are closed again, the pid file is removed and the exit code is 1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        pcp_port = taken.getsockname()[1]
        proxy = swiftpool({"pcp_port": pcp_port, "log_min_messages": "info"}, start=False)
        proxy.start(wait=False)
        assert proxy.wait_exit(20) == 1, proxy.log()[-2000:]
    log = proxy.log()
    assert f"cannot listen on PCP port {pcp_port}" in log, log[-2000:]
    assert "listening" in log and "HTTP server listening" in log, "the earlier components started"
    assert not os.path.exists(proxy.params["pid_file_name"].strip("'"))
    for port in (proxy.port, proxy.http_port):
        assert not port_open(port), f"port {port} still open after the failed start"
