"""Client-side TLS: the SSLRequest upgrade, PostgreSQL 17's direct TLS, pool_hba hostssl and
hostnossl, real clients (psql, psycopg, asyncpg) over TLS through routing, and bad input that
ends one session without touching the others."""
from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import HOST, TEST_DB, USERS, _psql_binary, make_dsn
from tls_certs import make_tls_files

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
GSSENC_REQUEST = struct.pack("!ii", 8, 80877104)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def tls_overrides(certs, **extra):
    return {"ssl": True, "ssl_cert": str(certs.server_cert), "ssl_key": str(certs.server_key), **extra}


def run_psql(conninfo: str, sql: str, password: str | None = None) -> subprocess.CompletedProcess:
    """psql with a full conninfo string, nothing taken from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run([_psql_binary(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                          env=env, capture_output=True, text=True, timeout=60)


def conninfo(proxy, user="app_readwrite", host=HOST, **params) -> str:
    parts = {"host": host, "port": proxy.port, "user": user, "dbname": TEST_DB, **params}
    return " ".join(f"{k}={v}" for k, v in parts.items())


def ssl_in_use(proxy, **params) -> str:
    out = run_psql(conninfo(proxy, **params), "SELECT 1", USERS["app_readwrite"])
    return out


def metrics(proxy) -> str:
    return requests.get(f"http://127.0.0.1:{proxy.http_port}/metrics", timeout=10).text


def sample(text: str, name: str, labels: str) -> float:
    prefix = f"{name}{{{labels}}} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    raise AssertionError(f"{prefix!r} not in metrics")


def test_sslmode_require_connects_over_tls(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs))
    out = run_psql(conninfo(proxy, sslmode="require"), r"\conninfo", USERS["app_readwrite"])
    assert out.returncode == 0, out.stderr
    assert "SSL connection (protocol: TLSv1.3" in out.stdout
    # The query itself goes through the encrypted session to the backend.
    query = run_psql(conninfo(proxy, sslmode="require"), "SELECT current_user", USERS["app_readwrite"])
    assert query.stdout.strip() == "app_readwrite", query.stderr
    text = metrics(proxy)
    assert sample(text, "swiftpool_client_tls_handshakes_total", 'version="TLSv1.3"') >= 2
    assert sample(text, "swiftpool_client_tls_handshakes_started_total", 'mode="sslrequest"') >= 2


def test_verify_full_checks_the_host_name(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs))
    good = run_psql(conninfo(proxy, host="localhost", sslmode="verify-full", sslrootcert=certs.ca_cert),
                    "SELECT 1", USERS["app_readwrite"])
    assert good.returncode == 0, good.stderr
    wrong_name = run_psql(conninfo(proxy, host=HOST, sslmode="verify-full", sslrootcert=certs.ca_cert),
                          "SELECT 1", USERS["app_readwrite"])
    assert wrong_name.returncode != 0
    assert "does not match host name" in wrong_name.stderr
    wrong_ca = run_psql(conninfo(proxy, host="localhost", sslmode="verify-ca", sslrootcert=certs.other_ca_cert),
                        "SELECT 1", USERS["app_readwrite"])
    assert wrong_ca.returncode != 0
    assert "certificate verify failed" in wrong_ca.stderr


def test_without_ssl_a_require_client_is_told_no(swiftpool):
    proxy = swiftpool()
    out = run_psql(conninfo(proxy, sslmode="require"), "SELECT 1", USERS["app_readwrite"])
    assert out.returncode != 0
    assert "server does not support SSL" in out.stderr
    plain = run_psql(conninfo(proxy, sslmode="prefer"), "SELECT 1", USERS["app_readwrite"])
    assert plain.returncode == 0, plain.stderr


def test_gss_encryption_is_refused_then_tls_follows(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs))
    with socket.create_connection((HOST, proxy.port), timeout=10) as sock:
        sock.sendall(GSSENC_REQUEST)
        assert sock.recv(1) == b"N"
        sock.sendall(SSL_REQUEST)
        assert sock.recv(1) == b"S"
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


HBA_SSL = """
hostssl    all  app_readwrite  127.0.0.1/32  scram-sha-256
hostnossl  all  app_readonly   127.0.0.1/32  scram-sha-256
host       all  postgres       127.0.0.1/32  scram-sha-256
host       all  repmgr         127.0.0.1/32  scram-sha-256
"""


def test_pool_hba_hostssl_and_hostnossl(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs), pool_hba=HBA_SSL)
    plain = run_psql(conninfo(proxy, sslmode="disable"), "SELECT 1", USERS["app_readwrite"])
    assert plain.returncode != 0
    assert ('no pool_hba.conf entry for host "127.0.0.1", user "app_readwrite", database "swiftpool_test", '
            "no encryption") in plain.stderr
    encrypted = run_psql(conninfo(proxy, sslmode="require"), "SELECT current_user", USERS["app_readwrite"])
    assert encrypted.stdout.strip() == "app_readwrite", encrypted.stderr

    ro = dict(user="app_readonly")
    refused = run_psql(conninfo(proxy, sslmode="require", **ro), "SELECT 1", USERS["app_readonly"])
    assert refused.returncode != 0
    assert "SSL encryption" in refused.stderr and "no pool_hba.conf entry" in refused.stderr
    allowed = run_psql(conninfo(proxy, sslmode="disable", **ro), "SELECT current_user", USERS["app_readonly"])
    assert allowed.stdout.strip() == "app_readonly", allowed.stderr


ROUTING = {"load_balance_mode": True, "statement_level_load_balance": True}


def test_drivers_over_tls_through_routing(swiftpool, certs, cluster):
    proxy = swiftpool(tls_overrides(certs, **ROUTING))
    import psycopg
    dsn = make_dsn(proxy.port, host="localhost", sslmode="verify-full", sslrootcert=str(certs.ca_cert))
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        assert conn.pgconn.ssl_in_use
        conn.execute("CREATE TABLE IF NOT EXISTS tls_rows (id int)")
        conn.execute("INSERT INTO tls_rows VALUES (1)")
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] in (True, False)
        writer = conn.execute("INSERT INTO tls_rows VALUES (2) RETURNING pg_is_in_recovery()").fetchone()[0]
        assert writer is False, "writes go to the primary"
        nodes = {conn.execute("SELECT inet_server_port()").fetchone()[0] for _ in range(30)}
        assert len(nodes) >= 2, f"reads were balanced over standbys too: {nodes}"
        conn.execute("DROP TABLE tls_rows")

    import asyncpg

    async def run():
        context = ssl.create_default_context(cafile=str(certs.ca_cert))
        conn = await asyncpg.connect(host="localhost", port=proxy.port, user="app_readwrite",
                                     password=USERS["app_readwrite"], database=TEST_DB, ssl=context)
        try:
            assert conn.get_server_pid() is not None
            assert conn._transport.get_extra_info("ssl_object") is not None
            return await conn.fetchval("SELECT 41 + 1")
        finally:
            await conn.close()
    assert asyncio.run(run()) == 42


def raw_client_hello(alpn: list[str] | None) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, incoming, outgoing


def startup_packet(user: str) -> bytes:
    body = struct.pack("!i", 196608) + f"user\0{user}\0database\0{TEST_DB}\0\0".encode()
    return struct.pack("!i", len(body) + 4) + body


def test_direct_tls_needs_alpn_postgresql(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs))
    context = ssl.create_default_context(cafile=str(certs.ca_cert))
    context.set_alpn_protocols(["postgresql"])
    with socket.create_connection((HOST, proxy.port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "postgresql"
            tls.sendall(startup_packet("app_readwrite"))
            # The session answers over TLS: an authentication request.
            assert tls.recv(1) == b"R"
    bare = ssl.create_default_context(cafile=str(certs.ca_cert))
    with socket.create_connection((HOST, proxy.port), timeout=10) as sock:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with bare.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(startup_packet("app_readwrite"))
                if tls.recv(1) == b"":
                    raise ConnectionError("closed")
    assert sample(metrics(proxy), "swiftpool_client_tls_failures_total", 'reason="no_alpn"') >= 1


def closed_by_server(sock: socket.socket) -> bool:
    """Reads until the server closes; True when it did (EOF or reset)."""
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_bad_input_ends_only_that_session(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs))
    import psycopg
    with psycopg.connect(proxy.dsn(sslmode="require"), autocommit=True) as bystander:
        assert bystander.execute("SELECT 1").fetchone()[0] == 1

        # Garbage where a ClientHello should be.
        with socket.create_connection((HOST, proxy.port), timeout=20) as sock:
            sock.sendall(SSL_REQUEST)
            assert sock.recv(1) == b"S"
            sock.sendall(b"\x16\x03\x01\x00\x10" + os.urandom(16) + b"\x00" * 200)
            assert closed_by_server(sock)

        # Plain protocol bytes after 'S'.
        with socket.create_connection((HOST, proxy.port), timeout=20) as sock:
            sock.sendall(SSL_REQUEST)
            assert sock.recv(1) == b"S"
            sock.sendall(startup_packet("app_readwrite"))
            assert closed_by_server(sock)

        # Unencrypted bytes pipelined with the SSLRequest.
        with socket.create_connection((HOST, proxy.port), timeout=20) as sock:
            sock.sendall(SSL_REQUEST + startup_packet("app_readwrite"))
            assert closed_by_server(sock)

        # A handshake cut half-way: half a ClientHello, then the client goes.
        _, _, outgoing = raw_client_hello(None)
        hello = outgoing.read()
        with socket.create_connection((HOST, proxy.port), timeout=20) as sock:
            sock.sendall(SSL_REQUEST)
            assert sock.recv(1) == b"S"
            sock.sendall(hello[: len(hello) // 2])

        # Direct TLS garbage.
        with socket.create_connection((HOST, proxy.port), timeout=20) as sock:
            sock.sendall(b"\x16" + os.urandom(300))
            assert closed_by_server(sock)

        # The session that was open all along still works, and new ones start.
        assert bystander.execute("SELECT 2").fetchone()[0] == 2
    with psycopg.connect(proxy.dsn(sslmode="require"), autocommit=True) as after:
        assert after.execute("SELECT 3").fetchone()[0] == 3
    assert proxy.is_running()
    text = metrics(proxy)
    assert sample(text, "swiftpool_client_tls_failures_total", 'reason="bad_handshake"') >= 2
    assert sample(text, "swiftpool_client_tls_failures_total", 'reason="protocol_violation"') >= 1


def test_check_refuses_unusable_certificates(tmp_path, certs, swiftpool):
    proxy = swiftpool(tls_overrides(certs), start=False)
    binary = proxy.cmd[0]

    def check(**files) -> subprocess.CompletedProcess:
        conf = proxy.dir / "check.conf"
        base = proxy.conf_path.read_text()
        conf.write_text(base + "".join(f"{k} = '{v}'\n" for k, v in files.items()))
        return subprocess.run([binary, "-f", str(conf), "check"], capture_output=True, text=True, timeout=60)

    ok = check()
    assert ok.returncode == 0, ok.stderr

    loose = tmp_path / "loose.key"
    loose.write_bytes(certs.server_key.read_bytes())
    os.chmod(loose, 0o644)
    refused = check(ssl_key=loose)
    assert refused.returncode != 0
    assert str(loose) in refused.stderr and "group or world access" in refused.stderr

    other_key = tmp_path / "other.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-out", str(other_key)], check=True, capture_output=True)
    os.chmod(other_key, 0o600)
    mismatch = check(ssl_key=other_key)
    assert mismatch.returncode != 0
    assert str(other_key) in mismatch.stderr and "does not match" in mismatch.stderr

    missing = check(ssl_cert=tmp_path / "nowhere.crt")
    assert missing.returncode != 0
    assert "nowhere.crt" in missing.stderr


def server_certificate_der(proxy) -> bytes:
    with socket.create_connection((HOST, proxy.port), timeout=10) as sock:
        sock.sendall(SSL_REQUEST)
        assert sock.recv(1) == b"S"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock) as tls:
            return tls.getpeercert(binary_form=True)


def test_reload_reads_new_certificates_and_keeps_sessions(swiftpool, certs, tmp_path):
    from tls_certs import make_signed
    import psycopg
    proxy = swiftpool(tls_overrides(certs))
    first = server_certificate_der(proxy)
    assert first == ssl.PEM_cert_to_DER_cert(certs.server_cert.read_text())
    ca_key = certs.ca_cert.with_suffix(".key")
    new_cert, new_key = make_signed(tmp_path, "renewed", "localhost", (certs.ca_cert, ca_key), san="DNS:localhost")
    with psycopg.connect(proxy.dsn(sslmode="require"), autocommit=True) as session:
        assert session.execute("SELECT 1").fetchone()[0] == 1
        with open(proxy.conf_path, "a") as conf:
            conf.write(f"ssl_cert = '{new_cert}'\nssl_key = '{new_key}'\n")
        proxy.reload()
        deadline = 50
        renewed = first
        while renewed == first and deadline > 0:
            deadline -= 1
            subprocess.run(["sleep", "0.2"], check=True)
            renewed = server_certificate_der(proxy)
        assert renewed == ssl.PEM_cert_to_DER_cert(new_cert.read_text())
        # The session opened before the reload goes on with its TLS connection.
        assert session.execute("SELECT 2").fetchone()[0] == 2


HBA_CERT = """
hostssl    all  app_readwrite  127.0.0.1/32  cert
host       all  postgres       127.0.0.1/32  scram-sha-256
host       all  repmgr         127.0.0.1/32  scram-sha-256
"""


def test_cert_authentication_takes_the_user_from_the_certificate(swiftpool, certs, tmp_path):
    from tls_certs import make_ca, make_signed
    ca = (certs.ca_cert, certs.ca_cert.with_suffix(".key"))
    right = make_signed(tmp_path, "client-rw", "app_readwrite", ca)
    wrong_user = make_signed(tmp_path, "client-ro", "app_readonly", ca)
    stranger_ca = make_ca(tmp_path, "stranger-ca")
    stranger = make_signed(tmp_path, "client-stranger", "app_readwrite", stranger_ca)
    proxy = swiftpool(tls_overrides(certs, ssl_ca_cert=str(certs.ca_cert)), pool_hba=HBA_CERT)

    def connect(cert_and_key, sql="SELECT current_user"):
        params = {"sslmode": "require"}
        if cert_and_key:
            params.update(sslcert=cert_and_key[0], sslkey=cert_and_key[1])
        # No password: the certificate is the credential.
        return run_psql(conninfo(proxy, **params), sql, None)

    ok = connect(right)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "app_readwrite"
    other = connect(wrong_user)
    assert other.returncode != 0
    assert 'certificate authentication failed for user "app_readwrite"' in other.stderr
    none = connect(None)
    assert none.returncode != 0
    assert "connection requires a valid client certificate" in none.stderr
    unknown_ca = connect(stranger)
    assert unknown_ca.returncode != 0
    assert "SSL" in unknown_ca.stderr or "certificate" in unknown_ca.stderr


def test_scram_channel_binding_is_offered_on_tls(swiftpool, certs):
    """SCRAM-SHA-256-PLUS with tls-server-end-point: libpq's channel_binding=require logs in over
    TLS, a wrong password still fails, and without TLS no binding is offered."""
    proxy = swiftpool(tls_overrides(certs))
    bound = run_psql(conninfo(proxy, sslmode="require", channel_binding="require"),
                     "SELECT 1", USERS["app_readwrite"])
    assert bound.returncode == 0, bound.stderr
    wrong = run_psql(conninfo(proxy, sslmode="require", channel_binding="require"), "SELECT 1", "not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
    plain = run_psql(conninfo(proxy, sslmode="disable", channel_binding="require"), "SELECT 1", USERS["app_readwrite"])
    assert plain.returncode != 0 and "channel binding" in plain.stderr, plain.stderr
    # A client that prefers binding binds; one that disables it still logs in with plain SCRAM.
    for mode in ("prefer", "disable"):
        out = run_psql(conninfo(proxy, sslmode="require", channel_binding=mode), "SELECT 1", USERS["app_readwrite"])
        assert out.returncode == 0, (mode, out.stderr)
