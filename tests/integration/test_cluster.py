"""Self-test of the PostgreSQL test cluster (scripts/pg-cluster.sh) and of the
helpers in conftest.py.  No proxy involved."""
import time
import uuid

import pytest

from conftest import USERS, TEST_DB, auth_sqlstate, direct_primary_dsn, psql, run_cluster_script


def test_status_reports_every_node_up(cluster):
    out = run_cluster_script("status", check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(" up ") == cluster.standbys + 1, out.stdout


def test_one_primary_and_streaming_standbys(cluster):
    roles = {i: cluster.role(i) for i in cluster.nodes}
    assert roles[0] == "primary", roles
    assert all(roles[i] == "standby" for i in cluster.nodes[1:]), roles
    rows = cluster.query("SELECT application_name, state FROM pg_stat_replication ORDER BY 1",
                         port=cluster.primary_port())
    assert rows == [[f"node{i}", "streaming"] for i in range(1, cluster.standbys + 1)]


def test_settings_on_every_node(cluster):
    for port in cluster.ports:
        rows = cluster.query("SELECT name, setting FROM pg_settings WHERE name IN "
                             "('password_encryption', 'max_connections', 'hot_standby', "
                             "'wal_level', 'listen_addresses') ORDER BY 1", port=port)
        settings = dict(rows)
        assert settings["password_encryption"] == "scram-sha-256", (port, settings)
        assert int(settings["max_connections"]) >= 200, (port, settings)
        assert settings["hot_standby"] == "on"
        assert settings["wal_level"] == "replica"
        assert settings["listen_addresses"].startswith("127.0.0.1")


def test_scram_everywhere_but_for_the_md5_and_password_users(cluster):
    rows = cluster.query("SELECT rolname, CASE WHEN rolname = 'app_md5' THEN left(rolpassword, 3) "
                         "ELSE left(rolpassword, 14) END FROM pg_authid "
                         "WHERE rolname = ANY('{postgres,repmgr,app_readwrite,app_readonly,app_md5,app_plain}')")
    stored = {u: ("md5" if u == "app_md5" else "SCRAM-SHA-256$") for u in USERS}
    assert sorted(rows) == sorted([u, stored[u]] for u in USERS)
    methods = cluster.query("SELECT user_name, auth_method FROM pg_hba_file_rules WHERE type = 'host'")
    by_user = {tuple(r) for r in methods}
    assert ("{app_md5}", "md5") in by_user and ("{app_plain}", "password") in by_user
    assert {m for u, m in by_user if u not in ("{app_md5}", "{app_plain}")} == {"scram-sha-256"}


@pytest.mark.parametrize("user", sorted(USERS))
def test_reference_user_logs_in(cluster, user):
    for port in (cluster.primary_port(), cluster.standby_ports()[0]):
        r = psql(port, user, USERS[user], "postgres", "SELECT current_user")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == user
    assert auth_sqlstate(cluster.primary_port(), user, USERS[user]) is None


@pytest.mark.parametrize("user", ["app_readwrite", "app_readonly", "postgres"])
def test_wrong_password_is_28P01(cluster, user):
    assert auth_sqlstate(cluster.primary_port(), user, "not-the-password") == "28P01"
    r = psql(cluster.primary_port(), user, "not-the-password", "postgres", "SELECT 1")
    assert r.returncode != 0
    assert "password authentication failed" in r.stderr


def test_repmgr_sees_replication_stats(cluster):
    rows = psql(cluster.primary_port(), "repmgr", USERS["repmgr"], "postgres",
                "SELECT count(*) FROM pg_stat_replication WHERE sent_lsn IS NOT NULL", check=True)
    assert int(rows.stdout.strip()) == cluster.standbys


def test_writes_replicate_and_privileges(cluster):
    import psycopg

    table = f"selftest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(direct_primary_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
        try:
            conn.execute(f"INSERT INTO {table} VALUES (1, 'replicated')")
            # Visible on every standby within a few seconds.
            for port in cluster.standby_ports():
                deadline = time.monotonic() + 10
                while True:
                    r = psql(port, "app_readonly", USERS["app_readonly"], TEST_DB,
                             f"SELECT v FROM {table} WHERE id = 1")
                    if r.returncode == 0 and r.stdout.strip() == "replicated":
                        break
                    assert time.monotonic() < deadline, f"row not replicated to {port}: {r.stderr}"
                    time.sleep(0.1)
            # Standbys refuse writes; app_readonly may read but not write.
            r = psql(cluster.standby_ports()[0], "app_readwrite", USERS["app_readwrite"], TEST_DB,
                     f"INSERT INTO {table} VALUES (2, 'x')")
            assert r.returncode != 0 and "read-only transaction" in r.stderr
            r = psql(cluster.primary_port(), "app_readonly", USERS["app_readonly"], TEST_DB,
                     f"INSERT INTO {table} VALUES (3, 'x')")
            assert r.returncode != 0 and "permission denied" in r.stderr
        finally:
            conn.execute(f"DROP TABLE {table}")
