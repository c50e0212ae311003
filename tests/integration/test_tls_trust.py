"""What SwiftPool trusts and presents on TLS, beyond one certificate and one CA file: revocation
lists (ssl_crl_file, re-read on reload), a hashed CA directory (ssl_ca_cert_dir), an encrypted
key opened by ssl_passphrase_command, the ECDH curve (ssl_ecdh_curve), and an expired
certificate refused by `swiftpool check` and at start, the file named in the error."""
from __future__ import annotations

import datetime
import socket
import ssl
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from conftest import HOST, USERS
from test_tls import HBA_CERT, SSL_REQUEST, conninfo, run_psql, tls_overrides
from tls_certs import make_ca, make_signed, make_tls_files


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls-trust"))


def ca_of(certs):
    return certs.ca_cert, certs.ca_cert.with_suffix(".key")


class RevocationAuthority:
    """The test CA run as `openssl ca` would: an index of issued certificates, revocations and
    CRLs written to one file."""

    def __init__(self, directory: Path, ca: tuple[Path, Path]):
        self.directory = directory
        self.ca = ca
        (directory / "index.txt").write_text("")
        (directory / "crlnumber").write_text("01\n")
        self.config = directory / "ca.cnf"
        self.config.write_text(f"""
[ ca ]
default_ca = test
[ test ]
database = {directory / 'index.txt'}
crlnumber = {directory / 'crlnumber'}
certificate = {ca[0]}
private_key = {ca[1]}
default_md = sha256
default_crl_days = 7
""")
        self.crl = directory / "revoked.crl"

    def revoke(self, cert: Path) -> None:
        subprocess.run(["openssl", "ca", "-config", str(self.config), "-revoke", str(cert)],
                       check=True, capture_output=True, timeout=60)

    def write_crl(self) -> Path:
        subprocess.run(["openssl", "ca", "-config", str(self.config), "-gencrl", "-out", str(self.crl)],
                       check=True, capture_output=True, timeout=60)
        return self.crl


def cert_login(proxy, cert_and_key):
    """psql with a client certificate and no password (pool_hba says `cert`)."""
    return run_psql(conninfo(proxy, sslmode="require", sslcert=cert_and_key[0], sslkey=cert_and_key[1]),
                    "SELECT current_user", None)


def wait_for_log(proxy, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in proxy.log():
        assert time.monotonic() < deadline, f"{text!r} not in the log:\n{proxy.log()[-3000:]}"
        time.sleep(0.1)
    return proxy.log()


def test_a_revoked_client_certificate_is_refused_and_a_reloaded_list_applies(swiftpool, certs, tmp_path):
    authority = RevocationAuthority(tmp_path, ca_of(certs))
    kept = make_signed(tmp_path, "client-kept", "app_readwrite", ca_of(certs))
    revoked = make_signed(tmp_path, "client-revoked", "app_readwrite", ca_of(certs))
    authority.revoke(revoked[0])
    crl = authority.write_crl()
    proxy = swiftpool(tls_overrides(certs, ssl_ca_cert=str(certs.ca_cert), ssl_crl_file=str(crl)), pool_hba=HBA_CERT)

    ok = cert_login(proxy, kept)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "app_readwrite"
    refused = cert_login(proxy, revoked)
    assert refused.returncode != 0
    assert "SSL" in refused.stderr or "certificate" in refused.stderr, refused.stderr
    wait_for_log(proxy, "certificate revoked")

    # The list is read again on reload: the other certificate is revoked too, while a session it
    # opened before goes on.
    env_cert = {"sslmode": "require", "sslcert": str(kept[0]), "sslkey": str(kept[1])}
    with psycopg.connect(proxy.dsn(**env_cert), autocommit=True) as session:
        assert session.execute("SELECT current_user").fetchone()[0] == "app_readwrite"
        authority.revoke(kept[0])
        authority.write_crl()
        proxy.reload()
        deadline = time.monotonic() + 10
        while cert_login(proxy, kept).returncode == 0:
            assert time.monotonic() < deadline, "the reloaded revocation list was not applied"
            time.sleep(0.2)
        assert session.execute("SELECT 2").fetchone()[0] == 2


def test_check_refuses_a_revocation_list_without_a_ca_and_an_unreadable_one(swiftpool, certs, tmp_path):
    proxy = swiftpool(tls_overrides(certs), start=False)
    garbage = tmp_path / "garbage.crl"
    garbage.write_text("not a CRL\n")
    for extra, expected in (({"ssl_crl_file": str(garbage)}, "needs ssl_ca_cert or ssl_ca_cert_dir"),
                            ({"ssl_crl_file": str(garbage), "ssl_ca_cert": str(certs.ca_cert)}, str(garbage))):
        out = check(proxy, **extra)
        assert out.returncode != 0
        assert expected in out.stderr, out.stderr


def test_a_hashed_ca_directory_verifies_client_certificates(swiftpool, certs, tmp_path):
    directory = tmp_path / "cas"
    directory.mkdir()
    (directory / "test-ca.pem").write_bytes(certs.ca_cert.read_bytes())
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True, timeout=60)
    right = make_signed(tmp_path, "client-dir", "app_readwrite", ca_of(certs))
    stranger_ca = make_ca(tmp_path, "stranger-ca")
    stranger = make_signed(tmp_path, "client-stranger", "app_readwrite", stranger_ca)
    proxy = swiftpool(tls_overrides(certs, ssl_ca_cert_dir=str(directory)), pool_hba=HBA_CERT)

    ok = cert_login(proxy, right)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "app_readwrite"
    assert cert_login(proxy, stranger).returncode != 0

    missing = check(proxy, ssl_ca_cert_dir=str(tmp_path / "nowhere"))
    assert missing.returncode != 0
    assert "nowhere" in missing.stderr and "not a readable directory" in missing.stderr


def test_an_encrypted_key_is_opened_by_the_passphrase_command(swiftpool, certs, tmp_path):
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(certs.server_key), "-aes256", "-passout", "pass:open sesame",
                    "-out", str(encrypted)], check=True, capture_output=True, timeout=60)
    encrypted.chmod(0o600)
    script = tmp_path / "passphrase.sh"
    script.write_text("#!/bin/sh\n# $1 is the prompt\ncase \"$1\" in *encrypted.key*) echo 'open sesame' ;; *) exit 3 ;; esac\n")
    script.chmod(0o700)
    overrides = tls_overrides(certs, ssl_key=str(encrypted), ssl_passphrase_command=f"{script} %p")
    proxy = swiftpool(overrides)
    out = run_psql(conninfo(proxy, sslmode="require"), "SELECT 1", USERS["app_readwrite"])
    assert out.returncode == 0, out.stderr
    # The command (which may hold a secret) is redacted wherever the configuration is shown.
    shown = run_psql(conninfo(proxy, sslmode="require"), "SHOW POOL_STATUS", USERS["app_readwrite"])
    assert shown.returncode == 0, shown.stderr
    line = next(l for l in shown.stdout.splitlines() if l.startswith("ssl_passphrase_command|"))
    assert str(script) not in line
    assert "open sesame" not in proxy.log()

    wrong = check(proxy, ssl_passphrase_command="echo wrong-passphrase")
    assert wrong.returncode != 0
    assert str(encrypted) in wrong.stderr and "passphrase" in wrong.stderr, wrong.stderr
    none = check(proxy, ssl_passphrase_command="")
    assert none.returncode != 0
    assert "ssl_passphrase_command" in none.stderr, none.stderr
    failing = check(proxy, ssl_passphrase_command="exit 7")
    assert failing.returncode != 0
    assert "exited with status 7" in failing.stderr, failing.stderr


def handshake(proxy, curve: str) -> None:
    """A TLS handshake offering only `curve` (TLS 1.3 key share and 1.2 ECDHE alike)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ecdh_curve(curve)
    with socket.create_connection((HOST, proxy.port), timeout=10) as sock:
        sock.sendall(SSL_REQUEST)
        assert sock.recv(1) == b"S"
        with context.wrap_socket(sock):
            pass


def test_the_ecdh_curve_is_the_one_configured(swiftpool, certs):
    proxy = swiftpool(tls_overrides(certs, ssl_ecdh_curve="secp384r1"))
    handshake(proxy, "secp384r1")
    with pytest.raises(ssl.SSLError):
        handshake(proxy, "prime256v1")
    default = swiftpool(tls_overrides(certs))
    handshake(default, "prime256v1")  # Pgpool-II's default, prime256v1
    with pytest.raises(ssl.SSLError):
        handshake(default, "secp384r1")
    unknown = check(default, ssl_ecdh_curve="brainpool")
    assert unknown.returncode != 0
    assert 'ssl_ecdh_curve: unknown curve "brainpool"' in unknown.stderr, unknown.stderr


def make_expired(directory: Path, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A certificate for localhost signed by `ca` that expired yesterday (openssl's CLI cannot
    date one in the past)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    ca_cert = x509.load_pem_x509_certificate(ca[0].read_bytes())
    ca_key = serialization.load_pem_private_key(ca[1].read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "expired.crt", directory / "expired.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_an_expired_certificate_is_refused_by_check_and_at_start(swiftpool, certs, tmp_path):
    expired_cert, expired_key = make_expired(tmp_path, ca_of(certs))
    proxy = swiftpool(tls_overrides(certs), start=False)
    out = check(proxy, ssl_cert=str(expired_cert), ssl_key=str(expired_key))
    assert out.returncode != 0
    assert str(expired_cert) in out.stderr and "certificate expired on" in out.stderr, out.stderr
    # The same certificate for the admin HTTPS server.
    http = check(proxy, http_ssl_cert=str(expired_cert), http_ssl_key=str(expired_key))
    assert http.returncode != 0
    assert str(expired_cert) in http.stderr and "expired" in http.stderr, http.stderr
    # Starting with it fails the same way instead of serving an expired certificate.
    broken = swiftpool(tls_overrides(certs, ssl_cert=str(expired_cert), ssl_key=str(expired_key)), start=False)
    started = subprocess.run(broken.cmd, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert str(expired_cert) in started.stderr + broken.log() and "expired" in started.stderr + broken.log()


def check(proxy, **settings) -> subprocess.CompletedProcess:
    """`swiftpool check` on the proxy's configuration with `settings` appended."""
    conf = proxy.dir / "check.conf"
    conf.write_text(proxy.conf_path.read_text() + "".join(f"{k} = '{v}'\n" for k, v in settings.items()))
    return subprocess.run([proxy.cmd[0], "-f", str(conf), "check"], capture_output=True, text=True, timeout=60)

