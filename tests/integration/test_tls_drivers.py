"""Real drivers over TLS through SwiftPool's routing: pgjdbc (ssl=true, sslmode=verify-full,
sslrootcert) and node-postgres (ssl: ca, servername, rejectUnauthorized) connect to
`localhost`, verify SwiftPool's certificate and its host name, and run writes, balanced reads,
server-prepared (named) statements, node-postgres named queries run many times, and
transactions. Each test checks where every statement ran (the backend's inet_server_port():
writes and everything after a write in a transaction on the primary, reads on the standbys,
spread over at least two of them), that the driver's socket is a TLS 1.3 session with
SwiftPool's certificate, and that SwiftPool's TLS metrics counted exactly the handshakes the
driver made. pgjdbc's transactions (BEGIN sent in one extended batch with the first statement)
must keep the driver's transaction state open after every statement, and what they commit,
and only that, must be on the primary. A driver given another CA, or verifying a host name
the certificate does not carry, is refused with an SSL error."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DRIVERS_DIR, TEST_DB, USERS
from test_tls import ROUTING, certs, metrics, sample, tls_overrides  # noqa: F401  (certs is a fixture)

USER = "app_readwrite"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
# The primary's weight is 0: every balanced read belongs on a standby.
ROUTED_TLS = {**ROUTING, "backend_weight0": 0}
READS = 60


def tls_counts(proxy) -> dict[str, float]:
    """SwiftPool's client TLS counters: handshakes begun after an SSLRequest, completed with
    TLS 1.3 and with TLS 1.2, and failed (all reasons together)."""
    text = metrics(proxy)
    prefix = "swiftpool_client_tls_failures_total{"
    failures = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]
    assert failures, f"{prefix!r} not in metrics"
    return {"started": sample(text, "swiftpool_client_tls_handshakes_started_total", 'mode="sslrequest"'),
            "tls13": sample(text, "swiftpool_client_tls_handshakes_total", 'version="TLSv1.3"'),
            "tls12": sample(text, "swiftpool_client_tls_handshakes_total", 'version="TLSv1.2"'),
            "failed": sum(failures)}


def counted(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


@pytest.fixture
def table(cluster):
    """A table of this test's own, dropped at the end (on the primary, not through SwiftPool)."""
    name = f"tls_drivers_{os.getpid()}"
    drop = f"DROP TABLE IF EXISTS {name}"
    cluster.sql(drop, port=cluster.primary_port(), user=USER, db=TEST_DB)
    yield name
    cluster.sql(drop, port=cluster.primary_port(), user=USER, db=TEST_DB)


def rows_on_primary(cluster, table: str) -> list[list[str]]:
    return cluster.query(f"SELECT id, note FROM {table} ORDER BY id", port=cluster.primary_port(),
                         user=USER, db=TEST_DB)


def check_routing(result: dict, cluster, *, write: str, volatile: str, warmup: str, balanced: list[str],
                  named: str) -> None:
    """Where the autocommit statements ran, as the driver reported them (inet_server_port())."""
    primary, standbys = cluster.primary_port(), set(cluster.standby_ports())
    assert len(standbys) >= 2, f"the test cluster needs two standbys: {standbys}"
    assert result[write] == [primary] * 10, "writes go to the primary"
    assert result[volatile] is False, "a SELECT of a volatile function runs on the primary"
    assert result[warmup] < 50, "no read was ever balanced to a standby"
    for key in balanced:
        ports = result[key]
        assert len(ports) == READS, (key, ports)
        assert set(ports) <= standbys, f"{key}: reads ran on the primary or elsewhere: {ports}"
        assert len(set(ports)) >= 2, f"{key}: reads were not spread over the standbys: {ports}"
    # A named statement runs where it was parsed (as in Pgpool-II): one of the standbys.
    assert len(result[named]) == READS and set(result[named]) <= standbys, f"named reads: {result[named]}"


# --------------------------------------------------------------------------- pgjdbc

def run_jdbc(proxy, ca: Path, *args: str, host: str = "localhost") -> tuple[subprocess.CompletedProcess, dict]:
    assert JDBC_JAR.exists(), f"{JDBC_JAR} missing: run scripts/install-deps.sh"
    java = shutil.which("java")
    assert java, "java missing: run scripts/install-deps.sh"
    url = f"jdbc:postgresql://{host}:{proxy.port}/{TEST_DB}?ssl=true&sslmode=verify-full&sslrootcert={ca}"
    proc = subprocess.run([java, "-cp", str(JDBC_JAR), str(DRIVERS_DIR / "JdbcTlsRouting.java"),
                           "--url", url, "--user", USER, "--password", USERS[USER], *args],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output (exit {proc.returncode}):\n{proc.stderr}"
    return proc, json.loads(lines[-1])


def check_jdbc_tls(result: dict) -> None:
    tls = result["tls"]
    assert tls["socket"].endswith("SSLSocketImpl"), tls
    assert tls["protocol"] == "TLSv1.3", tls
    assert tls["peer_subject"] == "CN=localhost" and tls["peer_issuer"] == "CN=test-ca", tls


def jdbc_workload(proxy, certs, cluster, table: str, part: str, must_be_ok: bool = True) -> dict:
    """Runs one part of JdbcTlsRouting.java; with must_be_ok False the caller looks at the
    details first (and at result["ok"] last)."""
    before = tls_counts(proxy)
    proc, result = run_jdbc(proxy, certs.ca_cert, "--table", table, "--primary-port", str(cluster.primary_port()),
                            "--part", part, "--reads", str(READS))
    assert proc.returncode in ((0,) if must_be_ok else (0, 1)), proc.stdout + proc.stderr
    assert result["ok"] is True or not must_be_ok, result
    check_jdbc_tls(result)
    # One connection, one TLS 1.3 handshake after an SSLRequest, nothing failed.
    assert counted(before, tls_counts(proxy)) == {"started": 1, "tls13": 1, "tls12": 0, "failed": 0}
    return result


def test_pgjdbc_verify_full_through_routing(swiftpool, certs, cluster, table):
    proxy = swiftpool(tls_overrides(certs, **ROUTED_TLS))
    result = jdbc_workload(proxy, certs, cluster, table, "autocommit")
    # The INSERT became a server-prepared statement (fifth run), so did the named read; the
    # balanced read stayed unnamed.
    assert result["insert_server_prepared"] is True
    assert result["named_server_prepared"] is True
    assert result["balanced_server_prepared"] is False
    check_routing(result, cluster, write="write_ports", volatile="volatile_read_in_recovery",
                  warmup="warmup_reads_on_primary", balanced=["balanced_ports"], named="named_ports")
    assert rows_on_primary(cluster, table) == [[str(i), f"autocommit {i}"] for i in range(10)]


def test_pgjdbc_transactions_through_routing(swiftpool, certs, cluster, table):
    """pgjdbc sends BEGIN in one extended batch (a single Sync) with the transaction's first
    statement. Every ReadyForQuery SwiftPool relays inside the transaction must say so: pgjdbc
    believes it, and when it says idle, sends BEGIN again and skips its COMMIT or ROLLBACK."""
    proxy = swiftpool(tls_overrides(certs, **ROUTED_TLS))
    result = jdbc_workload(proxy, certs, cluster, table, "transaction", must_be_ok=False)
    primary = cluster.primary_port()
    rows = rows_on_primary(cluster, table)
    # After each of the 6 reads, the write, the 11 reads after it (the last counts the
    # transaction's own row) of the first transaction and the 4 statements of the second.
    assert result["tx_states"] == ["OPEN"] * 22, (
        f"pgjdbc's transaction state after each statement: {result}; rows on the primary: {rows}")
    assert result["warnings"] == [], "warnings in the transactions (e.g. a second BEGIN)"
    assert result["state_after_rollback"] == "IDLE"
    assert result["tx_write_port"] == primary
    after = result["tx_read_after_write_ports"]
    assert len(after) == 11 and set(after) == {primary}, f"reads after a write in a transaction: {after}"
    assert result["own_rows_seen"] == 1, "the transaction sees its uncommitted row"
    assert result["ok"] is True, result
    # The second transaction: a read, then the write and two reads after it on the primary.
    assert result["rollback_tx_ports"][1:] == [primary] * 3, result["rollback_tx_ports"]
    assert result["autocommit_write_port"] == primary
    # The committed transaction's row and the later autocommit write are there, the rolled-back
    # row is not.
    assert rows == [["100", "committed"], ["300", "autocommit after the transactions"]]


def test_pgjdbc_verify_full_refuses_another_ca_and_another_host_name(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs, **ROUTED_TLS))

    before = tls_counts(proxy)
    proc, result = run_jdbc(proxy, certs.other_ca_cert, "--connect-only")
    assert proc.returncode == 2 and result["connected"] is False, proc.stdout + proc.stderr
    assert result["error"].startswith("SSL error"), result
    assert result["sqlstate"] == "08006", result
    causes = " | ".join(result["causes"])
    assert "javax.net.ssl.SSLHandshakeException" in causes and "PKIX path building failed" in causes, causes
    # The handshake began and never completed: the client refused SwiftPool's certificate.
    assert counted(before, tls_counts(proxy)) == {"started": 1, "tls13": 0, "tls12": 0, "failed": 1}

    # The right CA, but 127.0.0.1 is not a name the certificate carries.
    proc, result = run_jdbc(proxy, certs.ca_cert, "--connect-only", host="127.0.0.1")
    assert proc.returncode == 2 and result["connected"] is False, proc.stdout + proc.stderr
    assert "The hostname 127.0.0.1 could not be verified" in result["error"], result

    # The same proxy with the right CA and host name: the refusals above were the client's.
    proc, result = run_jdbc(proxy, certs.ca_cert, "--connect-only")
    assert proc.returncode == 0 and result["connected"] is True, proc.stdout + proc.stderr
    check_jdbc_tls(result)


# --------------------------------------------------------------------------- node-postgres

def run_node(node_env, proxy, ca: Path, *args: str, host: str = "localhost") -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(["node", str(DRIVERS_DIR / "node_tls_routing.js"), "--host", host,
                           "--port", str(proxy.port), "--ca", str(ca), "--user", USER,
                           "--password", USERS[USER], "--database", TEST_DB, *args],
                          env=node_env, capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output (exit {proc.returncode}):\n{proc.stderr}"
    return proc, json.loads(lines[-1])


def check_node_tls(result: dict) -> None:
    tls = result["tls"]
    assert tls["encrypted"] is True and tls["authorized"] is True, tls
    assert tls["protocol"] == "TLSv1.3", tls
    assert tls["peerSubjectCN"] == "localhost" and tls["peerIssuerCN"] == "test-ca", tls


def test_node_postgres_verify_full_through_routing(swiftpool, certs, cluster, node_env, table):
    proxy = swiftpool(tls_overrides(certs, **ROUTED_TLS))
    before = tls_counts(proxy)
    proc, result = run_node(node_env, proxy, certs.ca_cert, "--servername", "localhost", "--table", table,
                            "--primary-port", str(cluster.primary_port()),
                            "--reads", str(READS), "--named-reads", str(READS))
    assert proc.returncode == 0 and result["ok"] is True, proc.stdout + proc.stderr
    check_node_tls(result)
    assert counted(before, tls_counts(proxy)) == {"started": 1, "tls13": 1, "tls12": 0, "failed": 0}

    check_routing(result, cluster, write="writePorts", volatile="volatileReadInRecovery",
                  warmup="warmupReadsOnPrimary", balanced=["simplePorts", "unnamedPorts"], named="namedPorts")
    primary, standbys = cluster.primary_port(), set(cluster.standby_ports())
    # In the transaction (BEGIN as a simple query): a read before the write is balanced,
    # the write and everything after it run on the primary and see the uncommitted row.
    assert set(result["txReadBeforeWritePorts"]) <= standbys, result["txReadBeforeWritePorts"]
    assert result["txWritePort"] == primary
    tx_reads = result["txReadPorts"]
    assert len(tx_reads) == 16 and set(tx_reads) == {primary}, f"reads after a write in a transaction: {tx_reads}"
    after = result["afterCommitPorts"]
    assert set(after) <= standbys and len(set(after)) >= 2, f"reads after the COMMIT: {after}"
    # The named read, parsed before the transaction and run in it on the primary, still runs on
    # a standby after the COMMIT.
    after_named = result["afterCommitNamedPorts"]
    assert len(after_named) == 20 and set(after_named) <= set(cluster.standby_ports()), after_named
    assert rows_on_primary(cluster, table) == (
        [[str(i), f"autocommit {i}"] for i in range(10)] + [["100", "in transaction"]])


def test_node_postgres_refuses_another_ca_and_another_host_name(swiftpool, certs, node_env):
    proxy = swiftpool(tls_overrides(certs, **ROUTED_TLS))

    before = tls_counts(proxy)
    proc, result = run_node(node_env, proxy, certs.other_ca_cert, "--servername", "localhost", "--connect-only")
    assert proc.returncode == 2 and result["connected"] is False, proc.stdout + proc.stderr
    assert result["code"] == "UNABLE_TO_VERIFY_LEAF_SIGNATURE", result
    assert counted(before, tls_counts(proxy)) == {"started": 1, "tls13": 0, "tls12": 0, "failed": 1}

    # The right CA, but a server name the certificate does not carry (node-postgres sets the
    # server name to the host unless the host is an address).
    proc, result = run_node(node_env, proxy, certs.ca_cert, "--servername", "other.example", "--connect-only",
                            host="127.0.0.1")
    assert proc.returncode == 2 and result["connected"] is False, proc.stdout + proc.stderr
    assert result["code"] == "ERR_TLS_CERT_ALTNAME_INVALID", result

    proc, result = run_node(node_env, proxy, certs.ca_cert, "--servername", "localhost", "--connect-only")
    assert proc.returncode == 0 and result["connected"] is True, proc.stdout + proc.stderr
    check_node_tls(result)
