"""Real clients through SwiftPool: pgbench in every protocol mode and TPC-B with verified
results, node-postgres, asyncpg."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import DRIVERS_DIR, USERS

SCALE = 1


def pgbench(port, *args, user="app_readwrite", db="swiftpool_test", timeout=180):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = USERS[user]
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", user, *args, db]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"pgbench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def processed(output: str) -> tuple[int, int]:
    m = re.search(r"number of transactions actually processed: (\d+)/(\d+)", output)
    assert m, output
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def pgbench_db(cluster):
    """pgbench tables, initialised directly on the primary."""
    pgbench(cluster.primary_port(), "-i", "-s", str(SCALE), "-q")
    return cluster


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_select_only(swiftpool, pgbench_db, mode):
    proxy = swiftpool()
    out = pgbench(proxy.port, "-S", "-M", mode, "-c", "8", "-j", "2", "-t", "200")
    done, expected = processed(out)
    assert done == expected == 1600
    assert "number of failed transactions: 0" in out


def test_pgbench_tpcb_results_are_consistent(swiftpool, pgbench_db, cluster):
    proxy = swiftpool()
    before = int(cluster.query("SELECT count(*) FROM pgbench_history", user="app_readwrite", db="swiftpool_test")[0][0])
    out = pgbench(proxy.port, "-c", "4", "-j", "2", "-t", "100", "-M", "extended")
    done, expected = processed(out)
    assert done == expected == 400
    rows = cluster.query(
        "SELECT (SELECT count(*) FROM pgbench_history), "
        "(SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(delta) FROM pgbench_history), "
        "(SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(delta) FROM pgbench_history), "
        "(SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)",
        user="app_readwrite", db="swiftpool_test")
    history, accounts_ok, branches_ok, tellers_ok = rows[0]
    assert int(history) == before + 400
    assert (accounts_ok, branches_ok, tellers_ok) == ("t", "t", "t")


def test_pgbench_new_connection_per_transaction(swiftpool, pgbench_db):
    proxy = swiftpool()
    out = pgbench(proxy.port, "-S", "-C", "-c", "4", "-j", "2", "-t", "25")
    assert processed(out) == (100, 100)


def test_node_postgres(swiftpool, node_env):
    proxy = swiftpool()
    proc = subprocess.run(
        ["node", str(DRIVERS_DIR / "node_smoke.js"), "--host", "127.0.0.1", "--port", str(proxy.port),
         "--user", "app_readwrite", "--password", USERS["app_readwrite"], "--database", "swiftpool_test"],
        env=node_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result.get("ok") is True, result


def test_asyncpg(swiftpool):
    proxy = swiftpool()
    proc = subprocess.run(
        [sys.executable, str(DRIVERS_DIR / "asyncpg_smoke.py"), "--host", "127.0.0.1", "--port", str(proxy.port),
         "--user", "app_readwrite", "--password", USERS["app_readwrite"], "--database", "swiftpool_test"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result.get("ok") is True, result
