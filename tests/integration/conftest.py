"""Shared fixtures and helpers for SwiftPool's integration tests.

Fixtures
  cluster      (session) ensures ``scripts/pg-cluster.sh up`` and returns a
               :class:`Cluster` (ports, passwords, DSNs, node control).
  swiftpool    (function) factory: ``swiftpool(overrides=None, *, pool_hba=None,
               pool_passwd=None, pcp_conf=None, ...)`` starts a proxy from a copy
               of config/demo and returns a :class:`SwiftPoolInstance`; every
               instance is stopped (SIGTERM, bounded wait) at teardown.
  node_env     environment dict with NODE_PATH set for node-postgres.

Helpers (importable: ``from conftest import psql, direct_primary_dsn``)
  psql(port, user, password, db, sql, extra_args=()) -> CompletedProcess
  direct_primary_dsn(user="app_readwrite", dbname="swiftpool_test", password=None) -> str
  auth_sqlstate(port, user, password, dbname="postgres") -> str | None
  free_port() -> int, free_ports(n), free_port_block(n), wait_for_port(port, timeout, proc=None, log_path=None)
  swiftpool_binary() -> Path

Environment
  SWIFTPOOL_BIN          proxy binary (default .build/release/swiftpool if
                         present, else .build/debug/swiftpool)
  SWIFTPOOL_CLUSTER_DIR, PG_BASE_PORT, PG_STANDBYS   passed to pg-cluster.sh
"""
from __future__ import annotations

import asyncio
import glob
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_ROOT / "scripts"
CLUSTER_SCRIPT = SCRIPTS_DIR / "pg-cluster.sh"
DEMO_CONFIG_DIR = REPO_ROOT / "config" / "demo"
DRIVERS_DIR = Path(__file__).resolve().parent / "drivers"
HOST = "127.0.0.1"

# Reference users and their passwords (SCRAM-SHA-256 in PostgreSQL).
USERS: dict[str, str] = {
    "postgres": "postgrespass",
    "repmgr": "repmgrpass",
    "app_readwrite": "readwrite456",
    "app_readonly": "readonly123",
    "app_md5": "md5pass789",        # the backends log it in with md5 (stored as an md5 hash)
    "app_plain": "plainpass321",    # the backends ask for its password in clear text
}
TEST_DB = "swiftpool_test"

START_TIMEOUT = float(os.environ.get("SWIFTPOOL_START_TIMEOUT", "20"))
STOP_TIMEOUT = float(os.environ.get("SWIFTPOOL_STOP_TIMEOUT", "15"))

# Signals that mean the proxy crashed rather than was stopped.
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGILL, signal.SIGBUS,
                  signal.SIGTRAP, signal.SIGFPE}


# --------------------------------------------------------------------------- helpers

def _pg_bin_dir() -> str | None:
    env = os.environ.get("PG_BIN")
    if env:
        return env
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    if not dirs:
        return None

    def version_key(d: str):
        return [int(x) for x in re.findall(r"\d+", Path(d).parent.name)]
    return sorted(dirs, key=version_key)[-1]


def _psql_binary() -> str:
    d = _pg_bin_dir()
    if d and os.path.exists(os.path.join(d, "psql")):
        return os.path.join(d, "psql")
    return shutil.which("psql") or "psql"


def psql(port: int, user: str, password: str | None, db: str, sql: str,
         extra_args: Iterable[str] = (), *, host: str = HOST, check: bool = False,
         timeout: float = 60) -> subprocess.CompletedProcess:
    """Run one psql command (``-X -A -t -v ON_ERROR_STOP=1``) and return the
    CompletedProcess (text mode; stdout holds unaligned tuples).  The password
    goes through PGPASSWORD; ``None`` means no password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    env["PGAPPNAME"] = "swiftpool-tests"
    if password is not None:
        env["PGPASSWORD"] = password
    cmd = [_psql_binary(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
           "-h", host, "-p", str(port), "-U", user, "-d", db, *extra_args, "-c", sql]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"psql failed ({proc.returncode}) on port {port} as {user}: "
                             f"{sql!r}\n{proc.stderr}")
    return proc


def make_dsn(port: int, user: str = "app_readwrite", dbname: str = TEST_DB,
             password: str | None = None, host: str = HOST, **extra: Any) -> str:
    """libpq keyword/value DSN; the password defaults to the reference one."""
    if password is None:
        password = USERS.get(user)
    parts = {"host": host, "port": port, "user": user, "dbname": dbname}
    if password is not None:
        parts["password"] = password
    parts.update(extra)

    def q(v: Any) -> str:
        s = str(v)
        if s and re.fullmatch(r"[A-Za-z0-9_.:/@-]+", s):
            return s
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return " ".join(f"{k}={q(v)}" for k, v in parts.items())


def auth_sqlstate(port: int, user: str, password: str | None, dbname: str = "postgres",
                  host: str = HOST, timeout: float = 10) -> str | None:
    """Try to log in with asyncpg; None on success, else the server's SQLSTATE
    (e.g. '28P01' for a wrong password, '28000' for a pg_hba/pool_hba reject).
    Errors without a SQLSTATE are raised."""
    import asyncpg

    async def attempt():
        conn = await asyncpg.connect(host=host, port=port, user=user, password=password,
                                     database=dbname, timeout=timeout)
        await conn.close()

    try:
        asyncio.run(attempt())
    except asyncpg.PostgresError as e:
        return e.sqlstate
    return None


def _listener_ports() -> range:
    """Ports outside the kernel's ephemeral range: a port the kernel handed out for bind(0) can be
    taken as the source port of any outgoing connection before the proxy binds it."""
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    except (OSError, ValueError):
        low, high = 32768, 60999
    below = range(20000, min(low, 32768))
    above = range(max(high + 1, 20000), 65536)
    best = max(below, above, key=len)
    if len(best) < 2000:
        raise RuntimeError(f"the ephemeral port range {low}-{high} leaves too few ports for listeners")
    return best


_PORT_RANGE = _listener_ports()
_handed_out: set[int] = set()
_port_random = random.Random(os.getpid() ^ time.time_ns())


def _bindable(port: int, host: str, udp: bool) -> bool:
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port_block(count: int, host: str = "0.0.0.0", udp: bool = False) -> int:
    """First of `count` consecutive ports, free a moment ago and not handed out before in this run."""
    for _ in range(500):
        base = _port_random.randrange(_PORT_RANGE.start, _PORT_RANGE.stop - count)
        block = range(base, base + count)
        if any(p in _handed_out for p in block) or not all(_bindable(p, host, udp) for p in block):
            continue
        _handed_out.update(block)
        return base
    raise AssertionError(f"no block of {count} free ports in {_PORT_RANGE}")


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago, outside the ephemeral range, not handed out before."""
    return free_port_block(1, host)


def free_ports(count: int, udp: bool = False) -> list[int]:
    """Distinct ports free for TCP (and UDP when asked) a moment ago."""
    return [free_port_block(1, HOST, udp) for _ in range(count)]


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path | None, lines: int = 80) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def wait_for_port(port: int, timeout: float = START_TIMEOUT, proc: subprocess.Popen | None = None,
                  log_path: Path | None = None, host: str = HOST) -> None:
    """Wait until host:port accepts TCP connections; pytest.fail (with the log
    tail) on timeout or if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"process exited with code {proc.returncode} before port {port} opened; "
                        f"log:\n{_tail(log_path)}", pytrace=False)
        if port_open(port, host):
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"port {port} did not accept connections within {timeout:.0f}s; "
                        f"log:\n{_tail(log_path)}", pytrace=False)
        time.sleep(0.1)


def swiftpool_binary() -> Path:
    env = os.environ.get("SWIFTPOOL_BIN")
    if env:
        return Path(env)
    release = REPO_ROOT / ".build" / "release" / "swiftpool"
    if release.exists():
        return release
    return REPO_ROOT / ".build" / "debug" / "swiftpool"


def node_path() -> str:
    """NODE_PATH under which require('pg') works (see scripts/install-deps.sh)."""
    out = subprocess.run([str(SCRIPTS_DIR / "node-path.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(out.stderr.strip() or "scripts/node-path.sh failed", pytrace=False)
    return out.stdout.strip()


# --------------------------------------------------------------------------- cluster

def run_cluster_script(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(CLUSTER_SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"pg-cluster.sh {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
    return proc


def _cluster_env() -> dict[str, str]:
    out = run_cluster_script("env").stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            k, v = parts[1].split("=", 1)
            env[k] = v
    return env


@dataclass
class Cluster:
    """The PostgreSQL test cluster: node I on 127.0.0.1:base_port+I, node0
    created as primary.  Roles can change in failover tests: use
    primary_port()/standby_ports() for the live view."""
    dir: Path
    bin_dir: Path
    base_port: int
    standbys: int
    host: str = HOST
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    test_db: str = TEST_DB

    @classmethod
    def from_env(cls) -> "Cluster":
        env = _cluster_env()
        return cls(dir=Path(env["SWIFTPOOL_CLUSTER_DIR"]), bin_dir=Path(env["PG_BIN"]),
                   base_port=int(env["PG_BASE_PORT"]), standbys=int(env["PG_STANDBYS"]))

    # ports and roles
    @property
    def nodes(self) -> list[int]:
        return list(range(self.standbys + 1))

    @property
    def ports(self) -> list[int]:
        return [self.node_port(i) for i in self.nodes]

    def node_port(self, i: int) -> int:
        return self.base_port + i

    def password(self, user: str) -> str:
        return self.users[user]

    def role(self, i: int) -> str:
        """'primary', 'standby' or 'down'."""
        r = self.sql("SELECT pg_is_in_recovery()", port=self.node_port(i), check=False)
        if r.returncode != 0:
            return "down"
        return "standby" if r.stdout.strip() == "t" else "primary"

    def primary_node(self) -> int:
        primaries = [i for i in self.nodes if self.role(i) == "primary"]
        if len(primaries) != 1:
            raise AssertionError(f"expected one primary, found nodes {primaries}")
        return primaries[0]

    def primary_port(self) -> int:
        return self.node_port(self.primary_node())

    def standby_ports(self) -> list[int]:
        return [self.node_port(i) for i in self.nodes if self.role(i) == "standby"]

    # connections
    def dsn(self, port: int | None = None, user: str = "postgres", dbname: str = "postgres",
            password: str | None = None, **extra: Any) -> str:
        return make_dsn(port or self.primary_port(), user, dbname,
                        password if password is not None else self.users.get(user),
                        self.host, **extra)

    def sql(self, sql: str, port: int | None = None, user: str = "postgres",
            db: str = "postgres", extra_args: Iterable[str] = (), check: bool = True
            ) -> subprocess.CompletedProcess:
        """psql against a node (default: node0) as a reference user."""
        return psql(port or self.node_port(0), user, self.users.get(user), db, sql,
                    extra_args, host=self.host, check=check)

    def query(self, sql: str, port: int | None = None, user: str = "postgres",
              db: str = "postgres") -> list[list[str]]:
        """Rows of a psql query as lists of strings ('|' separated)."""
        out = self.sql(sql, port, user, db).stdout
        return [line.split("|") for line in out.splitlines() if line]

    # node control (scripts/pg-cluster.sh)
    def up(self) -> None:
        run_cluster_script("up")

    def status(self) -> subprocess.CompletedProcess:
        return run_cluster_script("status", check=False)

    def stop_node(self, i: int, immediate: bool = False) -> None:
        run_cluster_script("stop-node", str(i), *(["--immediate"] if immediate else []))

    def start_node(self, i: int) -> None:
        run_cluster_script("start-node", str(i))

    def promote(self, i: int) -> None:
        run_cluster_script("promote", str(i))

    def rebuild_node(self, i: int) -> None:
        run_cluster_script("rebuild-node", str(i))

    def reset(self) -> None:
        """Throw the cluster away and create it again (node0 primary, all
        standbys streaming); about 3 s.  For tests that changed the topology."""
        run_cluster_script("down", "--purge")
        run_cluster_script("up")

    def streaming_count(self, port: int | None = None) -> int:
        r = self.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
                     port=port or self.primary_port())
        return int(r.stdout.strip())

    def wait_streaming(self, count: int | None = None, timeout: float = 60) -> None:
        want = self.standbys if count is None else count
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.streaming_count() >= want:
                    return
            except AssertionError:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"fewer than {want} standbys streaming after {timeout}s")
            time.sleep(0.2)


def session_ports(proxy: "SwiftPoolInstance", sessions: int = 30) -> set[int]:
    """The backend ports that the first read of each of `sessions` new sessions landed on."""
    ports = set()
    for _ in range(sessions):
        with proxy.connect(prepare_threshold=None) as conn:
            ports.add(int(conn.execute("SELECT current_setting('port')").fetchone()[0]))
    return ports


def direct_primary_dsn(user: str = "app_readwrite", dbname: str = TEST_DB,
                       password: str | None = None, **extra: Any) -> str:
    """DSN straight to the current primary, bypassing the proxy."""
    return _session_cluster().dsn(None, user, dbname, password, **extra)


_CLUSTER: Cluster | None = None


def _session_cluster() -> Cluster:
    global _CLUSTER
    if _CLUSTER is None:
        run_cluster_script("up")
        _CLUSTER = Cluster.from_env()
    return _CLUSTER


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """Ensures the cluster is up (idempotent; never stops it: .ci/run or the
    developer owns its lifetime)."""
    try:
        return _session_cluster()
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture
def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NODE_PATH"] = node_path()
    return env


# --------------------------------------------------------------------------- swiftpool

def format_conf_value(value: Any) -> str:
    """Python value -> pgpool.conf syntax: bools become on/off, numbers stay
    bare, other strings are single-quoted (already quoted strings are kept)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    s = str(value)
    if len(s) >= 2 and s.startswith("'") and s.endswith("'"):
        return s
    if re.fullmatch(r"-?\d+(\.\d+)?", s) or s.lower() in {"on", "off", "true", "false", "yes", "no"}:
        return s
    return "'" + s.replace("'", "''") + "'"


def parse_conf(text: str) -> dict[str, str]:
    """name -> raw value (quotes stripped) of a pgpool.conf; later lines win."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if not m:
            continue
        name, value = m.group(1), m.group(2)
        if value.startswith("'"):
            end = 1
            buf = []
            while end < len(value):
                c = value[end]
                if c == "'" and end + 1 < len(value) and value[end + 1] == "'":
                    buf.append("'")
                    end += 2
                    continue
                if c == "'":
                    break
                buf.append(c)
                end += 1
            value = "".join(buf)
        else:
            value = value.split("#", 1)[0].strip()
        out[name] = value
    return out


def _fallback_config(cluster: Cluster) -> dict[str, str]:
    """Used only while config/demo does not exist: a minimal reference setup."""
    lines = [
        "# Minimal configuration generated by tests/integration/conftest.py",
        "listen_addresses = '127.0.0.1'",
        "port = 15432",
        "pcp_listen_addresses = '127.0.0.1'",
        "pcp_port = 19898",
        "backend_clustering_mode = 'streaming_replication'",
    ]
    for i in cluster.nodes:
        lines += [
            f"backend_hostname{i} = '127.0.0.1'",
            f"backend_port{i} = {cluster.node_port(i)}",
            f"backend_weight{i} = {0 if i == 0 else 1}",
            f"backend_application_name{i} = 'node{i}'",
            f"backend_flag{i} = 'ALLOW_TO_FAILOVER'",
        ]
    lines += [
        "enable_pool_hba = on",
        "pool_passwd = 'pool_passwd'",
        "num_init_children = 32",
        "max_pool = 4",
        "load_balance_mode = on",
        "statement_level_load_balance = on",
        "disable_load_balance_on_write = 'transaction'",
        "sr_check_period = 5",
        "sr_check_user = 'repmgr'",
        "sr_check_password = ''",
        "health_check_period = 10",
        "health_check_timeout = 20",
        "health_check_user = 'repmgr'",
        "health_check_password = ''",
        "health_check_max_retries = 3",
        "health_check_retry_delay = 1",
    ]
    passwd = "".join(f"{u}:TEXT{p}\n" for u, p in USERS.items())
    hba = ("local all all scram-sha-256\n"
           "host all all 127.0.0.1/32 scram-sha-256\n"
           "host all all ::1/128 scram-sha-256\n")
    return {"pgpool.conf": "\n".join(lines) + "\n", "pool_passwd": passwd, "pool_hba.conf": hba}


# Ports the proxy may listen on besides `port` and `pcp_port`: if the base
# config has such a key, the factory gives it a free port too.
_EXTRA_PORT_KEY = re.compile(r"^(metrics|http|admin|api|prometheus|exporter)[a-z_]*_port$")


class SwiftPoolInstance:
    """A running proxy started by the ``swiftpool`` fixture."""

    def __init__(self, name: str, conf_dir: Path, cmd: list[str], params: dict[str, str]):
        self.name = name
        self.dir = conf_dir
        self.conf_path = conf_dir / "pgpool.conf"
        self.hba_path = conf_dir / "pool_hba.conf"
        self.log_path = conf_dir / "swiftpool.log"
        self.cmd = cmd
        self.params = params  # effective pgpool.conf values (raw strings)
        self.port = int(params["port"])
        self.pcp_port = int(params["pcp_port"])
        self.extra_ports = {k: int(v) for k, v in params.items()
                            if _EXTRA_PORT_KEY.match(k) and v.isdigit()}
        self.proc: subprocess.Popen | None = None
        self.sent_signals: list[int] = []

    # process control
    def start(self, wait: bool = True, timeout: float = START_TIMEOUT) -> "SwiftPoolInstance":
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            log.close()
        self.sent_signals = []
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """The SQL port, then the HTTP and PCP ports (they open a moment later)."""
        wait_for_port(self.port, timeout, self.proc, self.log_path)
        for port in (self.http_port, self.pcp_port):
            if port:
                wait_for_port(port, timeout, self.proc, self.log_path)

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def http_port(self) -> int | None:
        """First metrics/admin HTTP port found in the config, if any."""
        return next(iter(self.extra_ports.values()), None)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for_idle_backends(self, count: int = 1, timeout: float = 15) -> None:
        """Waits until `count` backend connections are back in the pool: a session's connection
        is reset (ABORT; DISCARD ALL) after the client leaves, and a login before that ends gets
        a new one."""
        import urllib.request
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen(f"http://{HOST}:{self.http_port}/metrics", timeout=10) as r:
                text = r.read().decode()
            idle = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("swiftpool_backend_connections{") and 'state="idle"' in line)
            if idle >= count:
                return
            assert time.monotonic() < deadline, f"{idle:.0f} idle backend connections, not {count}, after {timeout}s"
            time.sleep(0.05)

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def send_signal(self, sig: int) -> None:
        if self.is_running():
            self.sent_signals.append(sig)
            os.kill(self.pid, sig)

    def reload(self) -> None:
        """SIGHUP: re-read the configuration."""
        self.send_signal(signal.SIGHUP)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Returncode, or None if still running after ``timeout``."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Send ``sig`` and wait up to ``timeout``; returns the exit code, or
        None if the process is still running (caller decides)."""
        if not self.is_running():
            return self.returncode()
        self.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        if self.is_running():
            self.sent_signals.append(signal.SIGKILL)
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # clients
    def dsn(self, user: str = "app_readwrite", dbname: str = TEST_DB,
            password: str | None = None, **extra: Any) -> str:
        return make_dsn(self.port, user, dbname, password, HOST, **extra)

    def psql(self, sql: str, user: str = "app_readwrite", db: str = TEST_DB,
             password: str | None = None, extra_args: Iterable[str] = (),
             check: bool = False) -> subprocess.CompletedProcess:
        return psql(self.port, user, password if password is not None else USERS.get(user),
                    db, sql, extra_args, check=check)

    def connect(self, user: str = "app_readwrite", dbname: str = TEST_DB,
                password: str | None = None, **kwargs: Any):
        """psycopg 3 connection through the proxy (autocommit unless told)."""
        import psycopg
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(self.dsn(user, dbname, password), **kwargs)

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.returncode()}"
        return f"<SwiftPoolInstance {self.name} port={self.port} {state}>"


@pytest.fixture
def swiftpool(tmp_path: Path, cluster: Cluster):
    """Factory: ``swiftpool(overrides=None, *, pool_hba=None, pool_passwd=None,
    pcp_conf=None, name=None, extra_args=(), start=True, wait=True,
    timeout=20)`` -> SwiftPoolInstance.

    Copies config/demo into tmp_path/<name>, appends ``name = value`` lines
    (free ``port``/``pcp_port``/metrics ports, tmp ``pid_file_name``,
    ``logdir``, ``socket_dir``, then ``overrides``; later lines win),
    writes pool_hba.conf / pool_passwd / pcp.conf when given, and runs
    ``swiftpool -f pgpool.conf [-a pool_hba.conf] [-F pcp.conf] -n``.
    Teardown sends SIGTERM and fails the test if the process does not exit
    within SWIFTPOOL_STOP_TIMEOUT (15 s) or if it crashed."""
    instances: list[SwiftPoolInstance] = []

    def factory(overrides: Mapping[str, Any] | None = None, *, pool_hba: str | None = None,
                pool_passwd: str | None = None, pcp_conf: str | None = None,
                name: str | None = None, extra_args: Iterable[str] = (),
                start: bool = True, wait: bool = True,
                timeout: float = START_TIMEOUT) -> SwiftPoolInstance:
        binary = swiftpool_binary()
        if not binary.exists():
            pytest.fail(f"swiftpool binary not found at {binary} (build it, or set SWIFTPOOL_BIN)",
                        pytrace=False)
        name = name or f"sp{len(instances)}"
        conf_dir = tmp_path / name
        conf_dir.mkdir()
        if DEMO_CONFIG_DIR.is_dir():
            for f in DEMO_CONFIG_DIR.iterdir():
                if f.is_file():
                    shutil.copy2(f, conf_dir / f.name)
        else:
            for fname, text in _fallback_config(cluster).items():
                (conf_dir / fname).write_text(text)
        if pool_hba is not None:
            (conf_dir / "pool_hba.conf").write_text(pool_hba)
        if pool_passwd is not None:
            (conf_dir / "pool_passwd").write_text(pool_passwd)
        if pcp_conf is not None:
            (conf_dir / "pcp.conf").write_text(pcp_conf)
        for fname in ("pool_passwd", "pcp.conf"):
            if (conf_dir / fname).exists():
                os.chmod(conf_dir / fname, 0o600)

        conf_path = conf_dir / "pgpool.conf"
        base = parse_conf(conf_path.read_text()) if conf_path.exists() else {}
        (conf_dir / "log").mkdir()
        (conf_dir / "sock").mkdir()
        managed: dict[str, Any] = {
            "port": free_port(),
            "pcp_port": free_port(),
            "pid_file_name": str(conf_dir / "swiftpool.pid"),
            "logdir": str(conf_dir / "log"),
            "socket_dir": str(conf_dir / "sock"),
            # Protocol, auth and pooling tests talk to the primary; routing tests turn this on.
            "load_balance_mode": False,
        }
        # The demo config names the default ports; a cluster on another PG_BASE_PORT moves them.
        for i in cluster.nodes:
            if f"backend_port{i}" in base:
                managed[f"backend_port{i}"] = cluster.node_port(i)
        for key in ("pcp_socket_dir", "wd_ipc_socket_dir"):
            if key in base:
                managed[key] = str(conf_dir / "sock")
        for key in base:
            if _EXTRA_PORT_KEY.match(key):
                managed[key] = free_port()
        if (conf_dir / "pool_passwd").exists():
            managed["pool_passwd"] = str(conf_dir / "pool_passwd")
        if pool_hba is not None:
            managed["enable_pool_hba"] = True
        final = {**managed, **dict(overrides or {})}

        with open(conf_path, "a") as f:
            f.write("\n# ---- test overrides (tests/integration/conftest.py) ----\n")
            for key, value in final.items():
                f.write(f"{key} = {format_conf_value(value)}\n")
        params = parse_conf(conf_path.read_text())

        cmd = [str(binary), "-f", str(conf_path)]
        if (conf_dir / "pool_hba.conf").exists():
            cmd += ["-a", str(conf_dir / "pool_hba.conf")]
        if (conf_dir / "pcp.conf").exists():
            cmd += ["-F", str(conf_dir / "pcp.conf")]
        cmd += ["-n", *extra_args]

        inst = SwiftPoolInstance(name, conf_dir, cmd, params)
        instances.append(inst)
        if start:
            inst.start(wait=wait, timeout=timeout)
        return inst

    yield factory

    problems = []
    for inst in instances:
        if inst.proc is None:
            continue
        rc = inst.returncode()
        if rc is None:
            rc = inst.stop(signal.SIGTERM, STOP_TIMEOUT)
            if rc is None:
                inst.kill()
                problems.append(f"{inst.name} (pid {inst.pid}) did not exit within "
                                f"{STOP_TIMEOUT:.0f}s of SIGTERM; killed.\n{_tail(inst.log_path, 40)}")
                continue
        if rc < 0 and -rc in _CRASH_SIGNALS and -rc not in inst.sent_signals:
            problems.append(f"{inst.name} crashed with signal {signal.Signals(-rc).name}\n"
                            f"{_tail(inst.log_path, 40)}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
