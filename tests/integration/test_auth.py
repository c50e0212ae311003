"""Authentication through SwiftPool: pool_hba methods towards clients, pool_passwd towards
backends, and errors that match PostgreSQL's."""
from __future__ import annotations

import socket
import subprocess
import struct
import time

import pytest

from conftest import USERS, auth_sqlstate, psql

HBA_TEMPLATE = """
# TYPE  DATABASE  USER           ADDRESS       METHOD
host    all       blocked_user   127.0.0.1/32  reject
host    all       app_readonly   127.0.0.1/32  {readonly}
host    all       app_readwrite  127.0.0.1/32  {readwrite}
host    all       app_md5        127.0.0.1/32  {md5user}
host    all       app_plain      127.0.0.1/32  scram-sha-256
host    all       postgres       127.0.0.1/32  scram-sha-256
host    all       repmgr         127.0.0.1/32  scram-sha-256
"""


def hba(readonly="scram-sha-256", readwrite="scram-sha-256", md5user="scram-sha-256"):
    return HBA_TEMPLATE.format(readonly=readonly, readwrite=readwrite, md5user=md5user)


@pytest.mark.parametrize("method", ["scram-sha-256", "md5", "password"])
def test_pool_hba_methods_accept_good_and_refuse_bad_passwords(swiftpool, method):
    proxy = swiftpool(pool_hba=hba(readonly=method))
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") is None
    assert auth_sqlstate(proxy.port, "app_readonly", "wrong") == "28P01"
    # psql shows PostgreSQL's wording.
    bad = psql(proxy.port, "app_readonly", "wrong", "postgres", "SELECT 1")
    assert bad.returncode != 0
    assert 'password authentication failed for user "app_readonly"' in bad.stderr


def test_trust_needs_no_password(swiftpool):
    proxy = swiftpool(pool_hba=hba(readonly="trust"))
    out = psql(proxy.port, "app_readonly", None, "swiftpool_test", "SELECT current_user", check=True)
    assert out.stdout.strip() == "app_readonly"


def test_reject_and_missing_entry_give_28000(swiftpool):
    proxy = swiftpool(pool_hba=hba())
    assert auth_sqlstate(proxy.port, "blocked_user", "x") == "28000"
    rejected = psql(proxy.port, "blocked_user", "x", "postgres", "SELECT 1")
    assert "pool_hba.conf rejects connection" in rejected.stderr
    missing = psql(proxy.port, "nobody_listed", "x", "postgres", "SELECT 1")
    assert "no pool_hba.conf entry" in missing.stderr
    assert auth_sqlstate(proxy.port, "nobody_listed", "x") == "28000"


def test_without_pool_hba_clients_are_asked_what_the_backend_asks(swiftpool):
    """The backends use SCRAM, so clients get a SCRAM exchange from SwiftPool."""
    proxy = swiftpool({"enable_pool_hba": False})
    for user, password in USERS.items():
        assert auth_sqlstate(proxy.port, user, password) is None, user
    assert auth_sqlstate(proxy.port, "app_readwrite", "nope") == "28P01"


def test_unknown_user_looks_like_a_wrong_password(swiftpool):
    proxy = swiftpool({"enable_pool_hba": False})
    ghost = psql(proxy.port, "ghost_user", "whatever", "postgres", "SELECT 1")
    wrong = psql(proxy.port, "app_readwrite", "whatever", "postgres", "SELECT 1")
    assert 'password authentication failed for user "ghost_user"' in ghost.stderr
    assert 'password authentication failed for user "app_readwrite"' in wrong.stderr
    assert auth_sqlstate(proxy.port, "ghost_user", "whatever") == "28P01"


def test_backends_asking_for_md5_or_clear_text_passwords(swiftpool, cluster):
    """The backends log app_md5 in with md5 and app_plain with a clear-text password: SwiftPool
    answers both from pool_passwd, the client having proved itself with SCRAM."""
    proxy = swiftpool(pool_hba=hba())
    for user in ("app_md5", "app_plain"):
        # The backend really asks for that method (no SwiftPool in between).
        direct = psql(cluster.node_port(0), user, USERS[user], "postgres", "SELECT current_user", check=True)
        assert direct.stdout.strip() == user
        out = psql(proxy.port, user, USERS[user], "swiftpool_test", "SELECT current_user", check=True)
        assert out.stdout.strip() == user
        assert auth_sqlstate(proxy.port, user, "wrong") == "28P01"
    assert cluster.sql("SELECT substr(rolpassword, 1, 3) FROM pg_authid WHERE rolname = 'app_md5'").stdout.strip() == "md5"


def test_an_md5_hash_in_pool_passwd_logs_in_to_an_md5_backend(swiftpool, cluster):
    """With only the md5 hash in pool_passwd, pool_hba md5 checks the client and the hash logs
    in to a backend that asks for md5."""
    import hashlib
    entry = "md5" + hashlib.md5(b"md5pass789app_md5").hexdigest()
    proxy = swiftpool(pool_hba=hba(md5user="md5"), pool_passwd=f"app_md5:{entry}\npostgres:postgrespass\n")
    out = psql(proxy.port, "app_md5", "md5pass789", "swiftpool_test", "SELECT current_user", check=True)
    assert out.stdout.strip() == "app_md5"
    assert auth_sqlstate(proxy.port, "app_md5", "wrong") == "28P01"


def test_scram_in_pool_hba_with_an_md5_or_undecryptable_entry_logs_why(swiftpool, tmp_path, monkeypatch):
    """The client learns only 28P01; the operator reads why in the log."""
    import hashlib
    monkeypatch.setenv("PGPOOLKEYFILE", str(tmp_path / "no-such-key"))
    md5_entry = "md5" + hashlib.md5(b"readonly123app_readonly").hexdigest()
    passwd = f"app_readonly:{md5_entry}\napp_readwrite:AESbm90IHJlYWxseSBlbmNyeXB0ZWQ=\npostgres:postgrespass\n"
    proxy = swiftpool(pool_hba=hba(), pool_passwd=passwd)
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") == "28P01"
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") == "28P01"
    log = proxy.log()
    assert "pool_passwd holds only an md5 hash for the user, which cannot verify scram-sha-256" in log
    assert "the AES password in pool_passwd cannot be decrypted" in log
    assert "readonly123" not in log and "readwrite456" not in log


def test_md5_pool_passwd_entries_cannot_log_in_to_scram_backends(swiftpool, cluster):
    """An md5 pool_passwd entry cannot do SCRAM; a client using pool_hba md5 is checked, then
    told that SwiftPool has no password the SCRAM backend can use."""
    import hashlib
    md5_entry = "md5" + hashlib.md5(b"readonly123app_readonly").hexdigest()
    passwd = "\n".join([f"app_readonly:{md5_entry}", "app_readwrite:readwrite456",
                        "postgres:postgrespass", "repmgr:repmgrpass"]) + "\n"
    proxy = swiftpool(pool_hba=hba(readonly="md5"), pool_passwd=passwd)
    # The client side works (md5 against the stored hash) but the SCRAM backend needs the
    # plain password: the error says so without revealing anything to a wrong password.
    assert auth_sqlstate(proxy.port, "app_readonly", "wrong") == "28P01"
    result = psql(proxy.port, "app_readonly", "readonly123", "postgres", "SELECT 1")
    assert result.returncode != 0
    assert "28P01" in result.stderr or "password authentication failed" in result.stderr
    assert "no password in pool_passwd usable for scram-sha-256" in result.stderr


def test_text_prefixed_pool_passwd_entries(swiftpool):
    passwd = "app_readonly:TEXTreadonly123\napp_readwrite:TEXTreadwrite456\npostgres:postgrespass\n"
    proxy = swiftpool(pool_passwd=passwd)
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") is None
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None


def test_wrong_pool_passwd_reports_backend_error_only_after_client_auth(swiftpool):
    passwd = "app_readonly:not-the-real-password\npostgres:postgrespass\n"
    proxy = swiftpool({"enable_pool_hba": False}, pool_passwd=passwd)
    # Without the password the client learns nothing beyond 28P01.
    assert auth_sqlstate(proxy.port, "app_readonly", "guess") == "28P01"


def test_authentication_timeout_closes_silent_clients(swiftpool):
    proxy = swiftpool({"authentication_timeout": 1})
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        start = time.monotonic()
        data = s.recv(1024)  # nothing sent: SwiftPool must give up by itself
        assert time.monotonic() - start < 8
        assert data[:1] == b"E" and b"canceling authentication due to timeout" in data, data
    # Other clients are not affected.
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None


def test_ssl_and_gssenc_requests_are_declined(swiftpool):
    proxy = swiftpool()
    for code in (80877103, 80877104):
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
            s.sendall(struct.pack("!ii", 8, code))
            assert s.recv(1) == b"N"
    # psql with sslmode=prefer falls back to plain text.
    out = psql(proxy.port, "app_readwrite", "readwrite456", "swiftpool_test", "SELECT 1",
               extra_args=[], check=True)
    assert out.stdout.strip() == "1"


def test_allow_clear_text_frontend_auth_for_users_without_pool_passwd_entry(swiftpool):
    passwd = "postgres:postgrespass\n"  # no entry for app_readonly
    proxy = swiftpool({"enable_pool_hba": False, "allow_clear_text_frontend_auth": True,
                       "num_event_loops": 1}, pool_passwd=passwd)
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") is None
    # A cached connection opened with the right password is not handed to a wrong one.
    assert auth_sqlstate(proxy.port, "app_readonly", "wrong") == "28P01"
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") is None


def test_without_allow_clear_text_a_missing_entry_fails(swiftpool):
    proxy = swiftpool({"enable_pool_hba": False}, pool_passwd="postgres:postgrespass\n")
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") == "28P01"


def test_aes_pool_passwd_entries_written_by_pg_enc(swiftpool, tmp_path, monkeypatch):
    """pool_passwd entries encrypted by Pgpool-II's own pg_enc log in to the backends."""
    key_file = tmp_path / "pgpoolkey"
    key_file.write_text("a-key-for-tests\n")
    key_file.chmod(0o600)
    passwd = tmp_path / "pool_passwd"
    passwd.write_text("")
    conf = tmp_path / "enc.conf"
    conf.write_text(f"pool_passwd = '{passwd}'\n")
    for user in ("app_readonly", "app_readwrite"):
        subprocess.run(["pg_enc", "-m", "-f", str(conf), "-k", str(key_file), "-u", user, USERS[user]],
                       check=True, capture_output=True, text=True)
    text = passwd.read_text()
    assert text.count(":AES") == 2
    monkeypatch.setenv("PGPOOLKEYFILE", str(key_file))
    proxy = swiftpool({"enable_pool_hba": False}, pool_passwd=text + "postgres:postgrespass\n")
    assert auth_sqlstate(proxy.port, "app_readonly", "readonly123") is None
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None
    assert auth_sqlstate(proxy.port, "app_readonly", "wrong") == "28P01"


def test_wildcard_listen_address_serves_ipv4_clients_with_ipv4_hba_rules(swiftpool):
    proxy = swiftpool({"listen_addresses": "*"},
                      pool_hba="host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n")
    assert auth_sqlstate(proxy.port, "app_readwrite", "readwrite456") is None


def test_role_names_are_compared_byte_for_byte(swiftpool, cluster):
    """PostgreSQL holds "josé" with a composed é and "jose" + U+0301 as two roles. SwiftPool
    compares names the same way: the decomposed name neither logs in with the composed name's
    pool_passwd entry nor gets its pooled backend connection."""
    composed, decomposed = "jos\u00e9", "jose\u0301"
    cluster.sql(f"CREATE ROLE \"{composed}\" LOGIN PASSWORD 'nfcpass789'")
    try:
        passwd = "".join(f"{u}:TEXT{p}\n" for u, p in USERS.items()) + f"{composed}:TEXTnfcpass789\n"
        # One event loop: the second login must find the first one's idle connection.
        proxy = swiftpool({"num_event_loops": 1}, pool_passwd=passwd)
        out = psql(proxy.port, composed, "nfcpass789", "swiftpool_test", "SELECT current_user", check=True)
        assert out.stdout.strip() == composed
        # PostgreSQL itself refuses the other form: there is no such role.
        assert auth_sqlstate(cluster.node_port(0), decomposed, "nfcpass789", dbname="swiftpool_test") == "28P01"
        # The composed name's connection now waits in the pool; the same client program (same
        # startup parameters) logging in as the other form must not get it.
        other = psql(proxy.port, decomposed, "nfcpass789", "swiftpool_test", "SELECT current_user")
        assert other.returncode != 0, f"logged in as {other.stdout.strip()!r}"
        assert "password authentication failed" in other.stderr
        assert auth_sqlstate(proxy.port, decomposed, "nfcpass789", dbname="swiftpool_test") == "28P01"
        again = psql(proxy.port, composed, "nfcpass789", "swiftpool_test", "SELECT current_user", check=True)
        assert again.stdout.strip() == composed
        proxy.stop()
    finally:
        cluster.sql(f"DROP ROLE IF EXISTS \"{composed}\"")


def first_reply_to_startup(port: int, pairs: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    """Sends a startup packet built from raw name/value bytes; the first reply's type and body."""
    body = b"".join(name + b"\0" + value + b"\0" for name, value in pairs) + b"\0"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack("!ii", 8 + len(body), 196608) + body)
        header = b""
        while len(header) < 5:
            chunk = s.recv(5 - len(header))
            assert chunk, "the connection closed without a reply"
            header += chunk
        length = struct.unpack("!i", header[1:5])[0] - 4
        payload = b""
        while len(payload) < length:
            chunk = s.recv(length - len(payload))
            assert chunk, "the connection closed inside a reply"
            payload += chunk
        return header[:1], payload


def test_a_database_given_twice_is_checked_as_the_backend_uses_it(swiftpool):
    """PostgreSQL uses the last value of a startup parameter given twice. pool_hba.conf must judge
    that one: `database=postgres, database=swiftpool_test` must meet the reject rule for
    swiftpool_test, not the trust rule for postgres."""
    hba_text = ("host swiftpool_test app_readwrite 127.0.0.1/32 reject\n"
                "host all            app_readwrite 127.0.0.1/32 trust\n"
                "host all            all           127.0.0.1/32 scram-sha-256\n")
    proxy = swiftpool(pool_hba=hba_text)
    kind, body = first_reply_to_startup(proxy.port, [(b"user", b"app_readwrite"), (b"database", b"postgres")])
    assert kind == b"R", body  # trust: AuthenticationOk
    kind, body = first_reply_to_startup(proxy.port, [(b"user", b"app_readwrite"), (b"database", b"postgres"),
                                                     (b"database", b"swiftpool_test")])
    assert kind == b"E" and b"C28000\0" in body, (kind, body)


def test_a_user_name_longer_than_a_postgresql_name_is_cut_before_pool_hba(swiftpool):
    """PostgreSQL cuts user names to 63 bytes; a rule for the 63-byte name applies to the longer
    one the client sent, as it would in pg_hba.conf."""
    long_user = "app_readwrite" + "x" * 60
    hba_text = (f"host all {long_user[:63]} 127.0.0.1/32 reject\n"
                "host all all 127.0.0.1/32 trust\n")
    proxy = swiftpool(pool_hba=hba_text)
    kind, body = first_reply_to_startup(proxy.port, [(b"user", long_user.encode()), (b"database", b"postgres")])
    assert kind == b"E" and b"C28000\0" in body, (kind, body)


def test_a_user_name_that_is_not_utf8_is_refused_with_a_protocol_violation(swiftpool):
    """A name read with replacement characters would log in as another role."""
    proxy = swiftpool()
    kind, body = first_reply_to_startup(proxy.port, [(b"user", b"app_\xffreadwrite"), (b"database", b"postgres")])
    assert kind == b"E" and b"C08P01\0" in body, (kind, body)
    assert b"not valid UTF-8" in body
