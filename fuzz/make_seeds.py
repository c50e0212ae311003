#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/: real startup packets, message runs,
configuration files from config/, hba/passwd/pcp lines, PCP logins, HTTP requests, SCRAM
exchanges. The watchdog seeds come from the real sealer: run.sh --seeds writes them with
`FUZZ_WRITE_SEEDS=<dir> .build-fuzz/release/watchdog`. Run from anywhere; files are rewritten."""
import base64, hashlib, hmac, os, struct, subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def msg(t, body=b""):
    return t.encode() + struct.pack(">i", len(body) + 4) + body


def packet(code, body=b""):
    return struct.pack(">ii", len(body) + 8, code) + body


# ---------------------------------------------------------------- startup-packet
def startup(pairs, version=196608):
    return packet(version, b"".join(cstr(k) + cstr(v) for k, v in pairs) + b"\0")

write("startup-packet", "psql", startup([("user", "app_readwrite"), ("database", "swiftpool_test"),
                                         ("application_name", "psql"), ("client_encoding", "UTF8")]))
write("startup-packet", "jdbc", startup([("user", "app"), ("database", "app"), ("client_encoding", "UTF8"),
                                         ("DateStyle", "ISO"), ("TimeZone", "UTC"), ("extra_float_digits", "2")]))
write("startup-packet", "ssl-then-startup", packet(80877103) + startup([("user", "postgres")]))
write("startup-packet", "gssenc", packet(80877104))
write("startup-packet", "cancel", packet(80877102, struct.pack(">ii", 4242, -123456789)))
write("startup-packet", "protocol-3.2-options", startup([("user", "u"), ("_pq_.compression", "on")], version=(3 << 16) | 2))
write("startup-packet", "protocol-2", startup([("user", "u")], version=2 << 16))
write("startup-packet", "truncated", startup([("user", "app"), ("database", "db")])[:-3])
write("startup-packet", "no-terminator", packet(196608, b"user\0app\0"))

# ---------------------------------------------------------------- client-framing (control byte first)
CONTROL_64K_MIXED = b"\x06"
simple = msg("Q", cstr("SELECT 1")) + msg("Q", cstr("BEGIN; UPDATE t SET a = 1; COMMIT"))
extended = (msg("P", cstr("s1") + cstr("SELECT $1::int") + struct.pack(">h", 1) + struct.pack(">i", 23))
            + msg("B", cstr("") + cstr("s1") + struct.pack(">hh", 1, 0) + struct.pack(">h", 1) + struct.pack(">i", 1) + b"7"
                  + struct.pack(">h", 0))
            + msg("D", b"P" + cstr("")) + msg("E", cstr("") + struct.pack(">i", 0)) + msg("S"))
copy = msg("Q", cstr("COPY t FROM STDIN")) + msg("d", b"1\tone\n2\ttwo\n") + msg("c")
write("client-framing", "simple", CONTROL_64K_MIXED + simple + msg("X"))
write("client-framing", "extended", CONTROL_64K_MIXED + extended)
write("client-framing", "copy", b"\x02" + copy)
write("client-framing", "password", b"\x0e" + msg("p", cstr("md5" + "0" * 32)))
write("client-framing", "sasl", b"\x0a" + msg("p", cstr("SCRAM-SHA-256") + struct.pack(">i", 32) + b"n,,n=,r=rOprNGfwEbeRWgbNEkqO%hvY")
      + msg("p", b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYsrv,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
write("client-framing", "split-tail", b"\x03" + simple + msg("Q", cstr("SELECT 2"))[:7])
write("client-framing", "over-limit", b"\x00" + msg("Q", cstr("SELECT " + "x" * 100)))
write("client-framing", "bad-length", b"\x02" + b"Q\x00\x00\x00\x02")

# ---------------------------------------------------------------- backend-stream (control byte first)
def error(severity, code, message):
    return b"".join(c.encode() + cstr(v) for c, v in [("S", severity), ("V", severity), ("C", code), ("M", message),
                                                       ("F", "postgres.c"), ("L", "1"), ("R", "exec")]) + b"\0"

login = (msg("R", struct.pack(">i", 0)) + msg("S", cstr("server_version") + cstr("15.18"))
         + msg("S", cstr("standard_conforming_strings") + cstr("on")) + msg("K", struct.pack(">ii", 1234, 5678))
         + msg("Z", b"I"))
rows = (msg("T", struct.pack(">h", 1) + cstr("a") + struct.pack(">ihihih", 0, 0, 23, 4, -1, 0))
        + msg("D", struct.pack(">hi", 1, 1) + b"1") + msg("C", cstr("SELECT 1")) + msg("Z", b"T"))
write("backend-stream", "login", b"\x06" + login)
write("backend-stream", "rows", b"\x0a" + rows)
write("backend-stream", "error", b"\x06" + msg("E", error("ERROR", "42P01", 'relation "t" does not exist')) + msg("Z", b"E"))
write("backend-stream", "fatal", b"\x02" + msg("E", error("FATAL", "57P01", "terminating connection due to administrator command")))
write("backend-stream", "copy-in", b"\x06" + msg("G", b"\0" + struct.pack(">h", 0)) + msg("C", cstr("COPY 2")) + msg("Z", b"I"))
write("backend-stream", "copy-both", b"\x06" + msg("W", b"\0" + struct.pack(">h", 0)))
write("backend-stream", "auth-md5", b"\x06" + msg("R", struct.pack(">i", 5) + b"\x01\x02\x03\x04"))
write("backend-stream", "auth-sasl", b"\x06" + msg("R", struct.pack(">i", 10) + cstr("SCRAM-SHA-256") + b"\0")
      + msg("R", struct.pack(">i", 11) + b"r=abcdef,s=c2FsdA==,i=4096") + msg("R", struct.pack(">i", 12) + b"v=AAAA"))
write("backend-stream", "notice-notify", b"\x0e" + msg("N", error("NOTICE", "00000", "hello"))
      + msg("A", struct.pack(">i", 77) + cstr("chan") + cstr("payload")) + msg("Z", b"I"))

# ---------------------------------------------------------------- sql (control byte, queries split by NUL)
queries = [
    "SELECT 1", "select * from pgbench_accounts where aid = $1", "BEGIN", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
    "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1", "COMMIT",
    "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "SELECT * FROM t FOR UPDATE",
    "SELECT nextval('s')", "SET search_path TO public", "SET TRANSACTION READ ONLY", "PREPARE p AS SELECT 1",
    "EXECUTE p", "DEALLOCATE ALL", "DECLARE c CURSOR FOR SELECT 1", "FETCH 10 FROM c", "CLOSE c",
    "CREATE TEMP TABLE tt (a int)", "INSERT INTO tt VALUES (1)", "SELECT * FROM pg_catalog.pg_class",
    "COPY t TO STDOUT", "COPY t FROM STDIN", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
    "SELECT 'it''s' || E'\\n' || $$dollar$$ || $tag$x$tag$ /* nested /* comment */ */ -- line",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
    "SELECT U&'\\0041' , B'101', X'ff', \"Quoted\"\"Ident\"", "SELECT 1; SELECT 2;", "/* leading */ SELECT 1",
    "EXPLAIN ANALYZE DELETE FROM t", "VACUUM", "SHOW ALL", "SELECT 'unterminated", "ROLLBACK",
]
write("sql", "session", b"\x00" + b"\0".join(q.encode() for q in queries))
write("sql", "session-nonstandard-strings", b"\x9d" + b"\0".join(q.encode() for q in queries))
for i, q in enumerate(queries):
    write("sql", f"q{i:02d}", bytes([i * 37 % 256]) + q.encode())

# ---------------------------------------------------------------- configuration files
for sample in ("demo", "reference", "reference-2"):
    directory = os.path.join(ROOT, "config", sample)
    for name, target in (("pgpool.conf", "pgpool-conf"), ("pool_hba.conf", "pool-hba"), ("pool_passwd", "pool-passwd"),
                         ("pcp.conf", "pcp-conf")):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                write(target, sample, f.read())
write("pgpool-conf", "small", "listen_addresses = '*'\nport = 9999\nbackend_hostname0 = 'db0'\nbackend_port0 = 5432\n"
      "backend_weight0 = 1\nbackend_flag0 = 'ALLOW_TO_FAILOVER'\nbackend_hostname1 = 'db1'\nbackend_port1 = 5432\n"
      "load_balance_mode = on\nsr_check_period = 10s\nhealth_check_period = 5\n"
      "primary_routing_query_pattern_list = '.*DO NOTHING.*;.*FOR SHARE.*'\nreset_query_list = 'ABORT; DISCARD ALL'\n"
      "app_name_redirect_preference_list = 'psql:primary,myapp:1(0.5)'\n")
write("pgpool-conf", "watchdog", "use_watchdog = on\nhostname0 = 'a'\nwd_port0 = 9000\npgpool_port0 = 9999\n"
      "hostname1 = 'b'\nwd_port1 = 9000\npgpool_port1 = 9999\nheartbeat_hostname0 = 'a'\nheartbeat_port0 = 9694\n"
      "heartbeat_hostname1 = 'b'\nheartbeat_port1 = 9694\nwd_authkey = 'k'\ndelegate_ip = '10.0.0.10'\n")
write("pgpool-conf", "quoting", "a = 'it''s'\nb 'x\\'y'\nc=on # comment\n\td = 5min\n# only a comment\nbad line here\n")

write("pool-hba", "hand", "local all all trust\nhost all all 127.0.0.1/32 md5\nhost sameuser +admins 10.0.0.0 255.0.0.0 scram-sha-256\n"
      "hostssl \"app\",db2 alice,bob ::1/128 password\nhostnossl all @users samenet reject\n"
      "host all all samehost pam pamservice=x\nhost replication all 0.0.0.0/0 trust\n\x01alice bob\ncarol\n")

def aes(password, key="fuzz-pool-key"):
    out = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-md", "sha1", "-nosalt", "-pass", "pass:" + key, "-a", "-A"],
                         input=password.encode(), capture_output=True, check=True).stdout
    return out.decode().strip()

write("pool-passwd", "kinds", "alice:md5" + hashlib.md5(b"secretalice").hexdigest() + "\n"
      "bob:AES" + aes("bob-password") + "\ncarol:TEXTcarol-password\ndave:plain-password\n"
      "erin:SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$ZmFrZXN0b3JlZGtleQ==:ZmFrZXNlcnZlcmtleQ==\n# comment\n\n"
      "alice:duplicate\r\nfrank:AESnot-base64\n")
write("pool-passwd", "malformed", "nobody\n")

write("pcp-conf", "hand", "# USERID:MD5PASSWD\npcpadmin:" + hashlib.md5(b"pcpadminpass").hexdigest() + "\n"
      "  other : " + hashlib.md5(b"fuzz-password").hexdigest().upper() + "  \n")
write("pcp-conf", "malformed", "pcpadmin:nothex\n")

# ---------------------------------------------------------------- admin-http
basic = "Basic " + base64.b64encode(b"pcpadmin:pcpadminpass").decode()
requests = {
    "status-page": "GET /\n",
    "metrics": f"GET /metrics\nAuthorization: {basic}\n",
    "healthz": "GET /healthz\n", "readyz": "HEAD /readyz\n",
    "nodes": f"GET /api/v1/nodes\nAuthorization: {basic}\n",
    "node": "GET /api/v1/nodes/1\nAuthorization: Bearer fuzz-token\n",
    "status": "GET /api/v1/status\nAuthorization: Bearer fuzz-token\n",
    "pool": f"GET /api/v1/pool\nauthorization: {basic}\n",
    "sessions": "GET /api/v1/sessions\nAuthorization: Bearer fuzz-token\n",
    "config": "GET /api/v1/config\nAuthorization: Bearer fuzz-token\n",
    "detach": "POST /api/v1/nodes/1/detach?mode=graceful\nAuthorization: Bearer fuzz-token\nContent-Type: application/json\n\n{\"mode\": \"immediate\"}",
    "attach": f"POST /api/v1/nodes/1/attach\nAuthorization: {basic}\nX-SwiftPool-Client: page\n",
    "promote": "POST /api/v1/nodes/1/promote?switchover=true\nAuthorization: Bearer fuzz-token\n\n{\"switchover\": false}",
    "reload": "POST /api/v1/reload\nAuthorization: Bearer fuzz-token\nOrigin: http://localhost:8080\nHost: localhost:8080\n",
    "cross-site": f"POST /api/v1/nodes/0/detach\nAuthorization: {basic}\nOrigin: https://evil.example\nHost: localhost\nContent-Type: text/plain\n",
    "wrong-password": "GET /api/v1/nodes\nAuthorization: Basic " + base64.b64encode(b"pcpadmin:nope").decode() + "\n",
    "leader": "GET /api/v1/watchdog/leader\n",
    "lifecheck": "POST /api/v1/watchdog/members/0/lifecheck\nAuthorization: Bearer fuzz-token\nContent-Type: application/json\n\n{\"alive\": true}",
    "watchdog": "GET /api/v1/watchdog\nAuthorization: Bearer fuzz-token\n",
    "not-found": "DELETE /api/v2/nodes\n",
}
for name, text in requests.items():
    write("admin-http", name, text)

# ---------------------------------------------------------------- pcp (control byte first; salt is 1 2 3 4)
def pcp(t, payload=b""):
    return t.encode() + struct.pack(">i", len(payload) + 4) + payload

inner = hashlib.md5((hashlib.md5(b"pcpadminpass").hexdigest() + "pcpadmin").encode()).hexdigest()
proof = hashlib.md5(inner.encode() + bytes([1, 2, 3, 4])).hexdigest()
login = pcp("M") + pcp("R", cstr("pcpadmin") + cstr(proof))
commands = [pcp("L"), pcp("I", cstr("0")), pcp("I", cstr("-1")), pcp("C", cstr("1")), pcp("D", cstr("1")), pcp("d", cstr("1")),
            pcp("J", cstr("1 ") + b"s"), pcp("j", cstr("1 ") + b"n"), pcp("B"), pcp("N"), pcp("P", cstr("0")),
            pcp("H", cstr("1")), pcp("Z", b"c"), pcp("W", cstr("-1")), pcp("O", cstr("1")), pcp("A", cstr("client_idle_limit") + cstr("30")),
            pcp("T", b"f"), pcp("X")]
write("pcp", "session", b"\x02" + login + b"".join(commands))
for i, command in enumerate(commands):
    write("pcp", f"command-{i:02d}", bytes([i % 4]) + login + command)
write("pcp", "wrong-password", b"\x01" + pcp("M") + pcp("R", cstr("pcpadmin") + cstr("0" * 32)))
write("pcp", "no-salt", b"\x01" + pcp("R", cstr("pcpadmin") + cstr(proof)))
write("pcp", "too-long", b"\x00" + b"I" + struct.pack(">i", 300))

# ---------------------------------------------------------------- scram (parts split by 0x01)
salt = b"fuzz-salt-16byte"
salted = hashlib.pbkdf2_hmac("sha256", b"fuzz-password", salt, 4096)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
stored_key = hashlib.sha256(client_key).digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()

def exchange(client_nonce, server_nonce, gs2=b"n,,"):
    client_first_bare = b"n=,r=" + client_nonce
    server_first = b"r=" + client_nonce + server_nonce + b",s=" + base64.b64encode(salt) + b",i=4096"
    without_proof = b"c=" + base64.b64encode(gs2) + b",r=" + client_nonce + server_nonce
    auth = client_first_bare + b"," + server_first + b"," + without_proof
    signature = hmac.new(stored_key, auth, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = without_proof + b",p=" + base64.b64encode(proof)
    server_final = b"v=" + base64.b64encode(hmac.new(server_key, auth, "sha256").digest())
    return gs2 + client_first_bare, final, server_first, server_final

first, final, _, _ = exchange(b"rOprNGfwEbeRWgbNEkqO", b"server-nonce")
_, _, server_first, server_final = exchange(b"client-nonce", b"3rfcNHYJY1ZVvWVs7j")
write("scram", "exchange", first + b"\x01" + final + b"\x01" + server_first + b"\x01" + server_final)
write("scram", "channel-binding", b"p=tls-server-end-point,,n=,r=abc\x01c=cD10bHM=,r=abc,p=AAAA\x01e=other-error\x01e=invalid-proof")
write("scram", "authzid", b"y,a=alice,n=alice,r=xyz\x01c=eSxhPWFsaWNlLA==,r=xyzserver-nonce,p=AAAA\x01r=client-nonceS,s=!!,i=0\x01v=!!")
write("scram", "huge-iterations", b"n,,n=,r=1\x01\x01r=client-noncex,s=c2FsdA==,i=999999999\x01")

print("seeds written under", CORPUS)
