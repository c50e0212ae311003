"""TLS from SwiftPool to the PostgreSQL nodes (backend_sslmode, ssl_ca_cert): sessions and the
libpq health and replication checks follow one policy. The test cluster serves TLS with a
certificate for 127.0.0.1 signed by $SWIFTPOOL_CLUSTER_DIR/tls/ca.crt."""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from conftest import USERS, free_port, psql
from tls_certs import make_tls_files

SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def backend_ssl(proxy) -> str:
    out = psql(proxy.port, "app_readwrite", USERS["app_readwrite"], "swiftpool_test", SSL_IN_USE)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def checker_ssl(cluster) -> set[str]:
    """Whether SwiftPool's own libpq connections (user repmgr) to the primary use TLS."""
    out = psql(cluster.node_port(0), "postgres", USERS["postgres"], "postgres",
               "SELECT DISTINCT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
               "WHERE a.usename = 'repmgr' AND a.application_name = 'swiftpool'")
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def ca_of(cluster) -> str:
    return str(cluster.dir / "tls" / "ca.crt")


FAST_CHECKS = {"health_check_period": 1, "sr_check_period": 1}


def assert_checks_use_tls(cluster) -> None:
    """SwiftPool's libpq checks reach the primary over TLS. They run every second and each
    connection lasts milliseconds: look until one of them is seen."""
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        seen |= checker_ssl(cluster)
        threading.Event().wait(0.02)
    assert seen == {"t"}, f"SwiftPool's libpq connections use TLS: {seen}"


def test_verify_full_encrypts_sessions_and_checks(swiftpool, cluster):
    proxy = swiftpool({"backend_sslmode": "verify-full", "ssl_ca_cert": ca_of(cluster), **FAST_CHECKS})
    assert backend_ssl(proxy) == "t"
    assert_checks_use_tls(cluster)


def test_ssl_on_prefers_tls_to_backends_and_ssl_off_does_not(swiftpool, cluster, tmp_path):
    certs = make_tls_files(tmp_path / "certs")
    on = swiftpool({"ssl": True, "ssl_cert": str(certs.server_cert), "ssl_key": str(certs.server_key)})
    assert backend_ssl(on) == "t"
    off = swiftpool()
    assert backend_ssl(off) == "f"


def test_verify_full_refuses_a_certificate_from_another_ca(swiftpool, cluster, tmp_path):
    certs = make_tls_files(tmp_path / "certs")
    proxy = swiftpool({"backend_sslmode": "verify-full", "ssl_ca_cert": str(certs.other_ca_cert)})
    out = psql(proxy.port, "app_readwrite", USERS["app_readwrite"], "swiftpool_test", "SELECT 1")
    assert out.returncode != 0
    assert "over TLS" in out.stderr and "could not be verified against ssl_ca_cert" in out.stderr, out.stderr


class PlainOnlyBackend:
    """A node that answers every SSLRequest 'N' (a PostgreSQL with ssl = off), then closes."""

    def __init__(self):
        self.port = free_port()
        self.asked = 0
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    first = conn.recv(8)
                    if first == struct.pack("!ii", 8, 80877103):
                        self.asked += 1
                        conn.sendall(b"N")
                        conn.recv(1024)
                except OSError:
                    pass

    def close(self):
        self.server.close()


@pytest.fixture
def plain_backend():
    backend = PlainOnlyBackend()
    yield backend
    backend.close()


def test_require_refuses_a_backend_without_tls(swiftpool, plain_backend):
    proxy = swiftpool({"backend_sslmode": "require", "backend_port0": plain_backend.port,
                       "backend_flag0": "ALLOW_TO_FAILOVER|ALWAYS_PRIMARY",
                       "health_check_period": 0, "sr_check_period": 0})
    out = psql(proxy.port, "app_readwrite", USERS["app_readwrite"], "swiftpool_test", "SELECT 1")
    assert out.returncode != 0
    assert "the server does not support SSL, but backend_sslmode = require requires it" in out.stderr, out.stderr
    assert plain_backend.asked >= 1
    assert proxy.is_running()


def test_verify_full_needs_a_readable_ca_file(swiftpool, tmp_path):
    proxy = swiftpool({"backend_sslmode": "verify-full", "ssl_ca_cert": str(tmp_path / "missing-ca.crt")},
                      start=False)
    proxy.start(wait=False)
    assert proxy.wait_exit(20) not in (None, 0)
    assert "missing-ca.crt" in proxy.log()


def test_verify_full_with_a_ca_directory_only(swiftpool, cluster, tmp_path):
    """ssl_ca_cert_dir alone: sessions verify the nodes against the hashed directory, and the
    libpq checks (which take no CA directory) against a bundle made of it."""
    import shutil
    import subprocess
    directory = tmp_path / "cas"
    directory.mkdir()
    shutil.copy(ca_of(cluster), directory / "cluster-ca.pem")
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True, timeout=60)
    proxy = swiftpool({"backend_sslmode": "verify-full", "ssl_ca_cert_dir": str(directory), **FAST_CHECKS})
    assert backend_ssl(proxy) == "t"
    assert_checks_use_tls(cluster)


def test_a_reload_reads_the_ca_file_again(swiftpool, cluster, tmp_path):
    """The CA file is re-read on reload: replaced by another CA, new backend connections are
    refused; restored, they verify again. No health checks run, so no node is failed."""
    import shutil
    certs = make_tls_files(tmp_path / "certs")
    ca_file = tmp_path / "backend-ca.crt"
    shutil.copy(ca_of(cluster), ca_file)
    proxy = swiftpool({"backend_sslmode": "verify-full", "ssl_ca_cert": str(ca_file),
                       "health_check_period": 0, "sr_check_period": 0, "connection_cache": False})
    assert backend_ssl(proxy) == "t"
    shutil.copy(certs.other_ca_cert, ca_file)
    proxy.reload()
    deadline = time.monotonic() + 10
    while True:
        out = psql(proxy.port, "app_readwrite", USERS["app_readwrite"], "swiftpool_test", "SELECT 1")
        if out.returncode != 0:
            break
        assert time.monotonic() < deadline, "the reloaded CA file was not used"
        time.sleep(0.2)
    assert "could not be verified against ssl_ca_cert" in out.stderr, out.stderr
    shutil.copy(ca_of(cluster), ca_file)
    proxy.reload()
    deadline = time.monotonic() + 10
    while True:
        out = psql(proxy.port, "app_readwrite", USERS["app_readwrite"], "swiftpool_test", SSL_IN_USE)
        if out.returncode == 0:
            break
        assert time.monotonic() < deadline, out.stderr
        time.sleep(0.2)
    assert out.stdout.strip() == "t"
