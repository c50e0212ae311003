"""The command line: version, check mode, config errors, stop and reload via the pid file."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import DEMO_CONFIG_DIR, REPO_ROOT, auth_sqlstate, swiftpool_binary


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
