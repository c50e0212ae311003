#!/usr/bin/env python3
"""Chaos soak for SwiftPool: a mixed client load through the proxy while faults are injected
into a private streaming-replication cluster, with continuous checks.  Run on purpose, not
in CI.  See chaos/README.md.

    chaos/soak.py                      # 30 minutes
    chaos/soak.py --minutes 3          # a short run
    chaos/soak.py --minutes 3 --self-check   # checks must catch deliberate failures

Exit status 0 when every check passed (with --self-check: when every check caught the
failure injected for it), 1 otherwise, 2 when the soak could not start.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg
import psycopg

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "pg-cluster.sh"
FAILOVER_DIR = REPO / "scripts" / "failover"
DEMO_CONFIG = REPO / "config" / "demo"
NODE_CLIENT = Path(__file__).resolve().parent / "node_client.js"
HOST = "127.0.0.1"
USERS = {"postgres": "postgrespass", "repmgr": "repmgrpass",
         "app_readwrite": "readwrite456", "app_readonly": "readonly123"}
DB = "swiftpool_test"
APP_USER = "app_readwrite"
PCP_USER, PCP_PASSWORD = "pcpadmin", "pcpadminpass"
PLACEHOLDERS = "%d %h %p %D %m %H %M %P %r %R %N %S"
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGILL, signal.SIGBUS, signal.SIGTRAP,
                 signal.SIGFPE}
PROBE_LIMIT = 2.0          # seconds a probe may take
MIB = 1024 * 1024

T0 = time.monotonic()


def now() -> float:
    return time.monotonic() - T0


def log(msg: str) -> None:
    print(f"[{now():8.1f}s] {msg}", flush=True)


# ----------------------------------------------------------------------------- statistics

class Stats:
    """Everything the checks and the report need; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.completed: collections.Counter[str] = collections.Counter()   # kind -> tx/queries
        self.errors: collections.Counter[tuple[str, str]] = collections.Counter()  # (kind, sqlstate)
        self.killed_errors: collections.Counter[str] = collections.Counter()  # kind -> count
        # asyncpg lost the server's FATAL to its own race (see asyncpg_lost_a_fatal)
        self.driver_lost_fatal: collections.Counter[str] = collections.Counter()
        self.no_sqlstate: list[dict] = []       # errors without SQLSTATE (findings)
        self.no_sqlstate_count: collections.Counter[tuple[str, str]] = collections.Counter()
        self.faults: collections.Counter[str] = collections.Counter()
        self.fault_log: list[dict] = []
        self.current_fault = "-"
        self.acked: dict[str, list[int]] = collections.defaultdict(list)
        self.probe_count = 0
        self.probe_violations: list[dict] = []
        self.probe_max = 0.0
        self.probe_errors: collections.Counter[str] = collections.Counter()
        self.cancel = collections.Counter()     # effective / missed per driver
        self.pgbench_messages: collections.Counter[str] = collections.Counter()
        self.error_samples: dict[str, list] = collections.defaultdict(list)  # first few per key
        self.copy_mismatch: list[str] = []
        self.notes: list[str] = []
        self.repairs: list[dict] = []
        self.rss_cycles: list[dict] = []
        self.rss_samples: list[tuple[float, int]] = []
        self.frozen = False

    def done(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.completed[kind] += n

    def ack(self, kind: str, ident: int) -> None:
        with self.lock:
            self.acked[kind].append(ident)

    def note(self, msg: str) -> None:
        log("NOTE " + msg)
        with self.lock:
            self.notes.append(f"{now():.1f}s {msg}")

    def error(self, kind: str, sqlstate: str | None, msg: str, killed: bool = False) -> None:
        """An error a client saw.  `killed`: the soak itself killed or cut this client, so a
        plain connection loss is expected and not a finding."""
        if self.frozen:       # SwiftPool is being stopped: hung clients see it go away
            return
        msg = " ".join(str(msg).split())[:300]
        with self.lock:
            key = f"{kind} {sqlstate or ('killed' if killed else 'NO-SQLSTATE')}"
            if len(self.error_samples[key]) < 5:
                self.error_samples[key].append({"t": round(now(), 1), "fault": self.current_fault,
                                                "message": msg})
            if sqlstate:
                self.errors[(kind, sqlstate)] += 1
            elif killed:
                self.killed_errors[kind] += 1
            else:
                key = (kind, error_class(msg))
                self.no_sqlstate_count[key] += 1
                if len(self.no_sqlstate) < 200:
                    self.no_sqlstate.append({"t": round(now(), 1), "kind": kind, "message": msg,
                                             "during_fault": self.current_fault})
        if not sqlstate and not killed:
            log(f"ERROR WITHOUT SQLSTATE ({kind}, fault {self.current_fault}): {msg}")


def error_class(msg: str) -> str:
    """A short, stable class for an error message (numbers and addresses removed)."""
    m = re.sub(r"\d+", "N", msg)
    m = re.sub(r"\"[^\"]*\"", "\"…\"", m)
    return m[:90]


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE the server sent.  asyncpg also gives client-side errors a code (08003 for
    a connection it found closed): only an error with a server severity counts."""
    if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError)):
        # asyncpg raises ConnectionDoesNotExistError for a connection closed after a FATAL and
        # keeps the server's error as its __cause__
        e: BaseException | None = exc
        while e is not None:
            if isinstance(e, asyncpg.PostgresError) and getattr(e, "severity", None):
                return e.sqlstate
            e = e.__cause__ or e.__context__
        return None
    s = getattr(exc, "sqlstate", None)
    if s:
        return s
    diag = getattr(exc, "diag", None)
    if diag is not None and getattr(diag, "sqlstate", None):
        return diag.sqlstate
    return None


STATS = Stats()
STOP = threading.Event()          # load stops
FAULTS_STOP = threading.Event()   # fault injection stops
KILLED_FDS: set[int] = set()      # sockets the soak cut on purpose
CLEANUP: list = []                # run in reverse order on any exit
INFLIGHT: dict[str, float] = {}   # client kind -> when its current unit of work started
PGBENCH_LOG_DIR: Path | None = None


# ----------------------------------------------------------------------------- cluster

class Cluster:
    def __init__(self, cluster_dir: Path, base_port: int, standbys: int) -> None:
        self.dir = cluster_dir
        self.base_port = base_port
        self.standbys = standbys
        self.nodes = list(range(standbys + 1))
        self.env = {**os.environ, "SWIFTPOOL_CLUSTER_DIR": str(cluster_dir),
                    "PG_BASE_PORT": str(base_port), "PG_STANDBYS": str(standbys)}
        self.pg_bin = ""

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        p = subprocess.run([str(CLUSTER_SCRIPT), *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"pg-cluster.sh {' '.join(args)} failed ({p.returncode}): "
                               f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return p

    def port(self, i: int) -> int:
        return self.base_port + i

    def node_dir(self, i: int) -> Path:
        return self.dir / f"node{i}"

    def connect(self, i: int, db: str = "postgres", timeout: int = 3) -> psycopg.Connection:
        return psycopg.connect(host=HOST, port=self.port(i), user="postgres",
                               password=USERS["postgres"], dbname=db, autocommit=True,
                               connect_timeout=timeout, application_name="chaos-admin")

    def sql(self, i: int, text: str, db: str = "postgres", params=None) -> list[tuple]:
        with self.connect(i, db) as conn:
            conn.execute("SET statement_timeout = '20s'")
            cur = conn.execute(text, params)
            return cur.fetchall() if cur.description else []

    def role(self, i: int) -> str | None:
        try:
            return "standby" if self.sql(i, "SELECT pg_is_in_recovery()")[0][0] else "primary"
        except Exception:
            return None

    def primaries(self) -> list[int]:
        return [i for i in self.nodes if self.role(i) == "primary"]

    def postmaster_pid(self, i: int) -> int | None:
        try:
            return int((self.node_dir(i) / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def kill9(self, i: int) -> int:
        """kill -9 the node's postmaster and every child at once (a host crash)."""
        pid = self.postmaster_pid(i)
        if pid is None:
            return 0
        victims = [pid]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    if ppid == pid:
                        victims.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        for v in victims:
            try:
                os.kill(v, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(victims)

    def start_node(self, i: int) -> None:
        for attempt in range(5):
            p = self.run("start-node", str(i), check=False)
            if p.returncode == 0:
                return
            time.sleep(1 + attempt)
        raise RuntimeError(f"node{i} does not start: {p.stderr[-1500:]}")

    def replication(self, primary: int) -> dict[str, tuple[str, str]]:
        """application_name -> (state, sync_state) on the primary."""
        rows = self.sql(primary, "SELECT application_name, state, sync_state FROM pg_stat_replication")
        return {r[0]: (r[1], r[2]) for r in rows}

    def set_sync(self, primary: int) -> str:
        """What an operator does after a topology change: the new primary's synchronous
        standby is the lowest-numbered other node that streams (FIRST 1 in node order), which
        is also the node SwiftPool's failover promotes (%m, the lowest usable node id)."""
        names = ", ".join(f"node{i}" for i in self.nodes if i != primary)
        value = f"FIRST 1 ({names})"
        self.sql(primary, f"ALTER SYSTEM SET synchronous_standby_names = '{value}'")
        self.sql(primary, "ALTER SYSTEM SET synchronous_commit = on")
        self.sql(primary, "SELECT pg_reload_conf()")
        return value


# ----------------------------------------------------------------------------- SwiftPool

class SwiftPool:
    def __init__(self, binary: Path, work: Path, cluster: Cluster, port: int, http_port: int,
                 pcp_port: int) -> None:
        self.binary, self.work, self.cluster = binary, work, cluster
        self.port, self.http_port, self.pcp_port = port, http_port, pcp_port
        self.proc: subprocess.Popen | None = None
        self.log_path = work / "swiftpool.log"
        self.sent_signals: list[int] = []

    def write_config(self, life_time: int, transaction_pool_size: int | None = None) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        for f in DEMO_CONFIG.iterdir():
            if f.is_file():
                shutil.copy2(f, self.work / f.name)
        for d in ("log", "sock"):
            (self.work / d).mkdir()
        for f in ("pool_passwd", "pcp.conf"):
            os.chmod(self.work / f, 0o600)
        c = self.cluster
        conf = {
            "listen_addresses": "'127.0.0.1'", "port": self.port, "pcp_port": self.pcp_port,
            "pcp_listen_addresses": "'127.0.0.1'", "http_listen_addresses": "'127.0.0.1'",
            "http_port": self.http_port, "socket_dir": f"'{self.work}/sock'",
            "pcp_socket_dir": f"'{self.work}/sock'", "logdir": f"'{self.work}/log'",
            "pid_file_name": f"'{self.work}/swiftpool.pid'",
            "pool_passwd": f"'{self.work}/pool_passwd'",
            "num_init_children": 64, "max_pool": 4, "connection_cache": "on",
            "connection_life_time": life_time, "client_wait_timeout": 10,
            "load_balance_mode": "on", "statement_level_load_balance": "on",
            "delay_threshold": 4 * MIB,
            "sr_check_period": 1, "health_check_period": 1, "health_check_timeout": 3,
            "health_check_max_retries": 1, "health_check_retry_delay": 1,
            "connect_timeout": 2000, "search_primary_node_timeout": 60,
            "auto_failback": "on", "auto_failback_interval": 1,
            "failover_command": f"'{FAILOVER_DIR}/failover.sh {PLACEHOLDERS}'",
            "follow_primary_command": f"'{FAILOVER_DIR}/follow_primary.sh {PLACEHOLDERS}'",
            "failover_command_timeout": 120, "log_min_messages": "warning",
        }
        if transaction_pool_size:
            conf.update({"pool_mode": "'transaction'", "transaction_pool_size": transaction_pool_size})
        for i in c.nodes:
            conf.update({f"backend_hostname{i}": "'127.0.0.1'", f"backend_port{i}": c.port(i),
                         f"backend_weight{i}": 1, f"backend_application_name{i}": f"'node{i}'",
                         f"backend_data_directory{i}": f"'{c.node_dir(i)}'",
                         f"backend_flag{i}": "'ALLOW_TO_FAILOVER'"})
        with open(self.work / "pgpool.conf", "a") as f:
            f.write("\n# ---- chaos/soak.py ----\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        pcppass = self.work / "pcppass"
        pcppass.write_text(f"{HOST}:{self.pcp_port}:{PCP_USER}:{PCP_PASSWORD}\n")
        os.chmod(pcppass, 0o600)

    def start(self) -> None:
        for port in (self.port, self.http_port, self.pcp_port):
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
            except OSError:
                continue
            raise RuntimeError(f"port {port} is in use (another SwiftPool still running?)")
        env = {**os.environ, "PGPASSWORD": USERS["postgres"], "PG_BIN": self.cluster.pg_bin,
               "FOLLOW_LOG_FILE": str(self.cluster.dir / "log" / "node%d.log")}
        logf = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), "-f", str(self.work / "pgpool.conf"), "-a",
                 str(self.work / "pool_hba.conf"), "-F", str(self.work / "pcp.conf"), "-n"],
                cwd=self.work, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                env=env, start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + 30
        for port in (self.port, self.http_port, self.pcp_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"swiftpool exited with {self.proc.returncode}: "
                                       f"{self.log_tail()}")
                try:
                    socket.create_connection((HOST, port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"swiftpool port {port} not open: {self.log_tail()}")
                    time.sleep(0.1)
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise RuntimeError(f"swiftpool exited with {self.proc.returncode}: {self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            self.sent_signals.append(sig)
            os.kill(self.pid, sig)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def api(self, method: str, path: str, timeout: float = 15) -> tuple[int, dict]:
        req = urllib.request.Request(f"http://{HOST}:{self.http_port}{path}", method=method)
        token = base64.b64encode(f"{PCP_USER}:{PCP_PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        req.add_header("Connection", "close")
        if method == "POST":
            req.add_header("X-SwiftPool-Client", "chaos-soak")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, {"raw": body.decode(errors="replace")}

    def nodes(self) -> dict[int, dict]:
        status, body = self.api("GET", "/api/v1/nodes")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/nodes: {status} {body}")
        return {n["id"]: n for n in body["nodes"]}

    def pool(self) -> dict:
        return self.api("GET", "/api/v1/pool")[1]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> dict:
        """Stops SwiftPool; reports a crash (a crash signal the soak did not send) or a hang."""
        out = {"exit": None, "crashed": False, "hung_on_stop": False}
        if self.proc is None:
            return out
        rc = self.proc.poll()
        if rc is None:
            self.send(sig)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                out["hung_on_stop"] = True
                self.sent_signals.append(signal.SIGKILL)
                os.killpg(self.pid, signal.SIGKILL)
                rc = self.proc.wait(10)
        out["exit"] = rc
        if rc is not None and rc < 0 and -rc in CRASH_SIGNALS and -rc not in self.sent_signals:
            out["crashed"] = True
        return out


# ----------------------------------------------------------------------------- clients

def dsn_kwargs(sp: SwiftPool, **extra) -> dict:
    return {"host": HOST, "port": sp.port, "user": APP_USER, "password": USERS[APP_USER],
            "dbname": DB, "autocommit": True, "connect_timeout": 10, **extra}


class IdSource:
    def __init__(self, base: int) -> None:
        self.next = base
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            self.next += 1
            return self.next


def psycopg_loop(kind: str, sp: SwiftPool, body, pause: float = 0.0, **conn_extra) -> None:
    """Runs body(conn) over and over on one connection, reconnecting after an error."""
    while not STOP.is_set():
        conn = None
        # A FATAL that arrives while the connection is idle reaches libpq's notice receiver,
        # not the exception of the next statement (which reports only the lost connection).
        idle_fatal: list[str] = []

        def on_notice(d: psycopg.errors.Diagnostic) -> None:
            if d.severity_nonlocalized in ("FATAL", "PANIC") and d.sqlstate:
                idle_fatal.append(d.sqlstate)
        try:
            conn = psycopg.connect(**dsn_kwargs(sp, application_name=f"chaos_{kind}", **conn_extra))
            conn.add_notice_handler(on_notice)
            while not STOP.is_set():
                INFLIGHT[kind] = now()
                body(conn)
                INFLIGHT.pop(kind, None)
                if pause:
                    time.sleep(pause)
        except psycopg.Error as e:
            state = sqlstate_of(e)
            if state is None and idle_fatal:
                state = f"{idle_fatal[-1]} (as a notice, on an idle connection)"
            STATS.error(kind, state, f"{type(e).__name__}: {e}")
            time.sleep(0.2)
        except Exception as e:  # a bug in the soak itself: report it and go on
            STATS.error(kind, None, f"soak-internal {type(e).__name__}: {e}")
            time.sleep(1)
        finally:
            INFLIGHT.pop(kind, None)
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass


def psycopg_writer(sp: SwiftPool, ids: IdSource, prepared: bool) -> None:
    kind = "psycopg_writer"

    def body(conn: psycopg.Connection) -> None:
        if random.random() < 0.5:
            i = ids.take()
            conn.execute("INSERT INTO chaos_acked (id, writer) VALUES (%s, %s)", (i, kind),
                         prepare=prepared)
            STATS.ack(kind, i)
            STATS.done(kind)
        else:
            a, b = ids.take(), ids.take()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO chaos_acked (id, writer) VALUES (%s, %s)", (a, kind),
                         prepare=prepared)
            conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s",
                         (random.randint(1, 100000),), prepare=prepared).fetchall()
            conn.execute("INSERT INTO chaos_acked (id, writer) VALUES (%s, %s)", (b, kind),
                         prepare=prepared)
            conn.execute("COMMIT")
            STATS.ack(kind, a)
            STATS.ack(kind, b)
            STATS.done(kind)
    psycopg_loop(kind, sp, body, pause=0.01)


def psycopg_reader(sp: SwiftPool) -> None:
    kind = "psycopg_reader"

    def body(conn: psycopg.Connection) -> None:
        aid = random.randint(1, 100000)
        conn.execute("SELECT abalance FROM pgbench_accounts WHERE aid = %s", (aid,),
                     prepare=True).fetchall()
        conn.execute("SELECT count(*) FROM chaos_copy").fetchall()
        if random.random() < 0.05:
            conn.execute("SHOW POOL_NODES").fetchall()
        STATS.done(kind, 2)
    psycopg_loop(kind, sp, body, pause=0.02)


def psycopg_copy(sp: SwiftPool) -> None:
    kind = "psycopg_copy"
    counter = [0]

    def body(conn: psycopg.Connection) -> None:
        n = random.randint(50, 400)
        conn.execute("BEGIN")
        with conn.cursor().copy("COPY chaos_copy (a, b) FROM STDIN") as cp:
            for k in range(n):
                cp.write_row((k, f"row-{k}"))
        conn.execute("COMMIT")
        buf = io.BytesIO()
        m = random.randint(100, 3000)
        with conn.cursor().copy(f"COPY (SELECT g, md5(g::text) FROM generate_series(1, {m}) g) "
                                "TO STDOUT") as cp:
            for data in cp:
                buf.write(data)
        got = buf.getvalue().count(b"\n")
        if got != m:
            STATS.copy_mismatch.append(f"psycopg COPY TO: {got} rows, expected {m}")
        counter[0] += 1
        if counter[0] % 200 == 0:
            conn.execute("TRUNCATE chaos_copy")
        STATS.done(kind, 2)
    psycopg_loop(kind, sp, body, pause=0.2)


def psycopg_cancel(sp: SwiftPool) -> None:
    kind = "psycopg_cancel"

    def body(conn: psycopg.Connection) -> None:
        delay = random.uniform(0.2, 1.0)
        fired = threading.Event()

        def canceller() -> None:
            # A cancel that arrives before the statement runs is ignored by the server: send a
            # second one later; a statement that still runs to its end was not cancelled.
            # cancel_safe: libpq's non-blocking cancel (libpq 17+).  The old blocking
            # conn.cancel() keeps Python's GIL while it waits for the server, so a hung
            # SwiftPool would freeze the whole soak, probe included.
            for wait in (delay, 1.5):
                if fired.wait(wait):
                    return
                try:
                    conn.cancel_safe(timeout=5)
                except psycopg.Error as e:
                    STATS.error(kind, sqlstate_of(e), f"cancel request: {type(e).__name__}: {e}")
        t = threading.Thread(target=canceller, daemon=True)
        t.start()
        started = time.monotonic()
        try:
            conn.execute("SELECT pg_sleep(6)")
            STATS.cancel["psycopg_missed"] += 1
            STATS.note(f"psycopg cancel missed: pg_sleep(6) finished after {time.monotonic() - started:.1f}s")
        except psycopg.errors.QueryCanceled:
            STATS.cancel["psycopg_effective"] += 1
            STATS.done(kind)
        finally:
            fired.set()
            t.join()
        conn.execute("SELECT 1").fetchall()   # the connection must stay usable
    psycopg_loop(kind, sp, body, pause=0.3)


def abrupt_close_client(sp: SwiftPool, self_check_event: threading.Event) -> None:
    """Cuts client connections abruptly: mid-query (shutdown of a psycopg connection's socket
    while it runs pg_sleep) and mid-login (raw socket closed with RST after the startup
    packet).  In --self-check mode one cut is not marked as the soak's own doing, so the
    SQLSTATE check must flag it."""
    kind = "abrupt_close"
    while not STOP.wait(random.uniform(1.0, 3.0)):
        try:
            if random.random() < 0.5:
                conn = psycopg.connect(**dsn_kwargs(sp, application_name="chaos_abrupt"))
                fd = conn.pgconn.socket
                unmarked = self_check_event.is_set()
                if unmarked:
                    self_check_event.clear()
                    STATS.note("self-check: cutting a client socket without marking it as killed")
                else:
                    KILLED_FDS.add(fd)

                # A duplicate taken now names this connection's socket even if psycopg closes
                # its own descriptor first (whose number another connection may then reuse).
                sock = socket.socket(fileno=os.dup(fd))

                def cut() -> None:
                    time.sleep(random.uniform(0.2, 0.8))
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass          # the connection ended first
                t = threading.Thread(target=cut, daemon=True)
                t.start()
                try:
                    conn.execute("SELECT pg_sleep(3)")
                    STATS.note("abrupt close: the query survived a cut socket")
                except psycopg.Error as e:
                    STATS.error(kind, sqlstate_of(e), f"{type(e).__name__}: {e}", killed=not unmarked)
                t.join()
                sock.close()
                KILLED_FDS.discard(fd)
                conn.close()
            else:
                s = socket.create_connection((HOST, sp.port), timeout=5)
                params = f"user\0{APP_USER}\0database\0{DB}\0\0".encode()
                s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
                if random.random() < 0.5:
                    s.recv(64)            # the authentication request
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()                 # RST
            STATS.done(kind)
        except psycopg.Error as e:
            STATS.error(kind, sqlstate_of(e), f"{type(e).__name__}: {e}")
        except OSError as e:
            STATS.error(kind, None, f"{type(e).__name__}: {e}")


KILLER_SCRIPT = r"""
import sys, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
mode = sys.argv[2]
if mode == 'tx':
    conn.execute('BEGIN')
    conn.execute("INSERT INTO chaos_killed (note) VALUES ('killed mid-transaction')")
    print('ready', flush=True)
    conn.execute('SELECT pg_sleep(20)')
elif mode == 'copy':
    print('ready', flush=True)
    with conn.cursor().copy('COPY chaos_killed (note) FROM STDIN') as cp:
        import time
        for i in range(100000):
            cp.write_row((f'copy {i}',))
            time.sleep(0.001)
else:
    print('ready', flush=True)
    conn.execute('SELECT pg_sleep(20)')
"""


def killer_client(sp: SwiftPool) -> None:
    """Starts client processes (psycopg in a transaction, in COPY, or psql) and kill -9s them
    mid-query."""
    kind = "killed_clients"
    dsn = (f"host={HOST} port={sp.port} user={APP_USER} password={USERS[APP_USER]} "
           f"dbname={DB} connect_timeout=10 application_name=chaos_killed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    while not STOP.wait(random.uniform(1.0, 4.0)):
        mode = random.choice(["tx", "copy", "plain", "psql"])
        if mode == "psql":
            cmd = ["psql", "-X", "-q", "-d", dsn, "-c", "SELECT pg_sleep(20)"]
        else:
            cmd = [sys.executable, "-c", KILLER_SCRIPT, dsn, mode]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        if mode != "psql":
            # wait for "ready" (at most 10 s), then let the query start
            t = threading.Timer(10, p.kill)
            t.start()
            p.stdout.readline()
            t.cancel()
        time.sleep(random.uniform(0.2, 1.5))
        p.kill()
        p.wait()
        STATS.done(kind)


def pgbench_runner(label: str, sp: SwiftPool, args: list[str], round_s: int) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
           "PGPASSWORD": USERS[APP_USER]}
    while not STOP.is_set():
        cmd = ["pgbench", "-n", "-h", HOST, "-p", str(sp.port), "-U", APP_USER,
               "-T", str(round_s), *args, DB]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=round_s + 120)
        if PGBENCH_LOG_DIR is not None:
            with open(PGBENCH_LOG_DIR / f"{label}.stderr", "a") as f:
                f.write(f"--- {now():.1f}s rc={p.returncode}\n{p.stderr}")
        m = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
        if m:
            STATS.done(label, int(m.group(1)))
        # pgbench prints no SQLSTATE: classify by what the server said.  A message with
        # ERROR:/FATAL: came from the server (counted as 'server-error'); one without is a
        # connection lost or refused with no error from the server (a finding).
        for line in p.stderr.splitlines():
            if "pgbench: error:" not in line and "aborted" not in line:
                continue
            if "Run was aborted" in line or "there is an error in the script" in line:
                continue
            m2 = re.search(r"\b(ERROR|FATAL):\s+(.*)", line)
            if m2:
                STATS.error(label, "server message (pgbench shows no code)", m2.group(2))
                with STATS.lock:
                    STATS.pgbench_messages[f"{label}: {error_class(m2.group(2))}"] += 1
            else:
                STATS.error(label, None, line)
        if p.returncode not in (0, 2):
            STATS.note(f"{label}: pgbench exited {p.returncode}: {p.stderr[-300:]}")
            time.sleep(1)


def node_runner(sp: SwiftPool, node_path: str, id_base: int) -> subprocess.Popen:
    env = {**os.environ, "NODE_PATH": node_path}
    p = subprocess.Popen(["node", str(NODE_CLIENT), "--host", HOST, "--port", str(sp.port),
                          "--user", APP_USER, "--password", USERS[APP_USER], "--database", DB,
                          "--id-base", str(id_base)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def reader() -> None:
        for line in p.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                STATS.note(f"node: {line.strip()[:200]}")
                continue
            if "ack" in msg:
                STATS.ack("node", msg["ack"])
            elif "err" in msg:
                STATS.error("node", msg["err"], f"{msg.get('phase')}: {msg.get('msg')}")
            elif msg.get("done"):
                STATS.done("node", msg["queries"])
            elif "fatal" in msg:
                STATS.note(f"node client died: {msg['fatal'][:300]}")
    threading.Thread(target=reader, daemon=True).start()
    return p


# asyncpg: one event loop in its own thread, several tasks

ASYNCPG_LOST_FATAL = re.compile(r"cannot switch to state \d+; another operation \(2\) is in progress")


async def asyncpg_lost_a_fatal(conn, exc: BaseException) -> bool:
    """asyncpg's own race (MagicStack/asyncpg#784; chaos/asyncpg_lost_fatal.py --burst shows it
    with PostgreSQL alone): a FATAL that reaches an idle connection leaves its protocol consuming an
    error, and a query sent before the close is seen fails with this InternalClientError instead
    of the server's SQLSTATE.  It counts as that only if the connection is closed right after."""
    if not isinstance(exc, asyncpg.exceptions.InternalClientError) or not ASYNCPG_LOST_FATAL.search(str(exc)):
        return False
    await asyncio.sleep(0.1)
    return conn is not None and conn.is_closed()


async def asyncpg_session(kind: str, sp: SwiftPool, body) -> None:
    while not STOP.is_set():
        conn = None
        try:
            conn = await asyncpg.connect(host=HOST, port=sp.port, user=APP_USER,
                                         password=USERS[APP_USER], database=DB, timeout=10,
                                         server_settings={"application_name": f"chaos_{kind}"})
            while not STOP.is_set():
                INFLIGHT[kind] = now()
                await body(conn)
                INFLIGHT.pop(kind, None)
        except asyncpg.PostgresError as e:
            STATS.error(kind, sqlstate_of(e), f"{type(e).__name__}: {e}")
            await asyncio.sleep(0.2)
        except (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError, OSError,
                asyncio.TimeoutError) as e:
            if await asyncpg_lost_a_fatal(conn, e):
                STATS.driver_lost_fatal[kind] += 1
            else:
                STATS.error(kind, sqlstate_of(e), f"{type(e).__name__}: {e}")
            await asyncio.sleep(0.2)
        except Exception as e:
            STATS.error(kind, None, f"soak-internal {type(e).__name__}: {e}")
            await asyncio.sleep(1)
        finally:
            INFLIGHT.pop(kind, None)
            if conn is not None:
                try:
                    await asyncio.wait_for(conn.close(), 5)
                except Exception:
                    conn.terminate()


async def asyncpg_main(sp: SwiftPool, ids: IdSource) -> None:
    async def writer(conn) -> None:
        a, b = ids.take(), ids.take()
        async with conn.transaction():
            await conn.execute("INSERT INTO chaos_acked (id, writer) VALUES ($1, 'asyncpg')", a)
            await conn.execute("INSERT INTO chaos_acked (id, writer) VALUES ($1, 'asyncpg')", b)
        STATS.ack("asyncpg_writer", a)
        STATS.ack("asyncpg_writer", b)
        STATS.done("asyncpg_writer")
        await asyncio.sleep(0.01)

    async def reader(conn) -> None:
        stmt = await conn.prepare("SELECT abalance, filler FROM pgbench_accounts "
                                  "WHERE aid BETWEEN $1 AND $1 + 10")
        for _ in range(20):
            await stmt.fetch(random.randint(1, 99990))
            STATS.done("asyncpg_reader")
            await asyncio.sleep(0.01)

    async def copier(conn) -> None:
        n = random.randint(50, 300)
        async with conn.transaction():
            await conn.copy_records_to_table("chaos_copy", records=[(k, f"a{k}") for k in range(n)],
                                             columns=["a", "b"])
        buf = io.BytesIO()
        m = random.randint(100, 3000)
        await conn.copy_from_query(f"SELECT g FROM generate_series(1, {m}) g", output=buf)
        got = buf.getvalue().count(b"\n")
        if got != m:
            STATS.copy_mismatch.append(f"asyncpg COPY TO: {got} rows, expected {m}")
        STATS.done("asyncpg_copy", 2)
        await asyncio.sleep(0.3)

    async def canceller(conn) -> None:
        started = time.monotonic()
        try:
            await asyncio.wait_for(conn.fetchval("SELECT pg_sleep(6)"), random.uniform(0.2, 1.0))
            STATS.cancel["asyncpg_missed"] += 1
            STATS.note(f"asyncpg timeout missed: pg_sleep(6) finished after {time.monotonic() - started:.1f}s")
        except asyncio.TimeoutError:
            STATS.cancel["asyncpg_effective"] += 1
        # asyncpg cancels the statement on timeout; the connection must stay usable
        t = time.monotonic()
        await asyncio.wait_for(conn.fetchval("SELECT 1"), 10)
        if time.monotonic() - t > 3:
            STATS.note(f"asyncpg: SELECT 1 after a cancel took {time.monotonic() - t:.1f}s")
        STATS.done("asyncpg_cancel")
        await asyncio.sleep(0.3)

    await asyncio.gather(asyncpg_session("asyncpg_writer", sp, writer),
                         asyncpg_session("asyncpg_reader", sp, reader),
                         asyncpg_session("asyncpg_copy", sp, copier),
                         asyncpg_session("asyncpg_cancel", sp, canceller))


# ----------------------------------------------------------------------------- probe

PROBE_CHILD = r"""
import asyncio, json, sys, time
import asyncpg
host, port, user, password, db = sys.argv[1:6]
async def one():
    conn = await asyncpg.connect(host=host, port=int(port), user=user, password=password,
                                 database=db, timeout=30,
                                 server_settings={"application_name": "chaos_probe"})
    try:
        v = await conn.fetchval("SELECT 1")
        if v != 1:
            raise RuntimeError(f"SELECT 1 returned {v!r}")
    finally:
        conn.terminate()
async def main():
    while True:
        started = time.monotonic()
        err = None
        try:
            await asyncio.wait_for(one(), 30)
        except asyncpg.PostgresError as e:
            err = f"{e.sqlstate} {e}"
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
        took = time.monotonic() - started
        print(json.dumps({"seconds": took, "error": err}), flush=True)
        await asyncio.sleep(max(0.0, 1.0 - took))
asyncio.run(main())
"""


def probe_loop(sp: SwiftPool) -> None:
    """Every second a new login and SELECT 1 through SwiftPool, in a process of its own (so
    nothing in the soak can delay it); over PROBE_LIMIT or an error is a violation.  The probe
    waits up to 30 s so the longest time is known."""
    p = subprocess.Popen([sys.executable, "-c", PROBE_CHILD, HOST, str(sp.port), APP_USER,
                          USERS[APP_USER], DB], stdout=subprocess.PIPE, text=True)
    CLEANUP.append(lambda: p.kill() if p.poll() is None else None)

    def stopper() -> None:
        STOP.wait()
        FAULTS_STOP.wait()
        p.terminate()
    threading.Thread(target=stopper, daemon=True).start()
    for line in p.stdout:
        r = json.loads(line)
        took, err = r["seconds"], r["error"]
        with STATS.lock:
            STATS.probe_count += 1
            STATS.probe_max = max(STATS.probe_max, took)
            if err:
                STATS.probe_errors[err.split(":")[0][:60]] += 1
            if err or took > PROBE_LIMIT:
                STATS.probe_violations.append({"t": round(now(), 1), "seconds": round(took, 3),
                                               "error": err, "during_fault": STATS.current_fault})
        if err or took > PROBE_LIMIT:
            log(f"PROBE VIOLATION: {took:.2f}s {err or ''} (fault {STATS.current_fault})")
    p.wait()


# ----------------------------------------------------------------------------- faults

class FaultInjector:
    def __init__(self, cluster: Cluster, sp: SwiftPool, rng: random.Random, interval: tuple[float, float],
                 weights: dict[str, float]) -> None:
        self.c, self.sp, self.rng, self.interval, self.weights = cluster, sp, rng, interval, weights

    # cluster state
    def topology(self) -> dict:
        """Real primary, SwiftPool's view, replication state."""
        prim = self.c.primaries()
        out = {"pg_primaries": prim, "api": {}, "replication": {}}
        try:
            out["api"] = {i: (n["status"], n["role"]) for i, n in self.sp.nodes().items()}
        except Exception as e:
            out["api_error"] = str(e)
        if len(prim) == 1:
            try:
                out["replication"] = self.c.replication(prim[0])
            except Exception as e:
                out["replication_error"] = str(e)
        return out

    def healthy(self) -> tuple[bool, dict]:
        t = self.topology()
        if len(t["pg_primaries"]) != 1 or not t["api"]:
            return False, t
        p = t["pg_primaries"][0]
        for i in self.c.nodes:
            status, role = t["api"].get(i, ("?", "?"))
            if status not in ("up", "waiting"):
                return False, t
            if (role == "primary") != (i == p):
                return False, t
            if i != p and t["replication"].get(f"node{i}", ("", ""))[0] != "streaming":
                return False, t
        if not any(s == "sync" for _, s in t["replication"].values()):
            return False, t
        return True, t

    def wait_healthy(self, what: str, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        t: dict = {}
        while time.monotonic() < deadline:
            try:
                ok, t = self.healthy()
                if ok:
                    return True
            except Exception as e:
                t = {"error": str(e)}
            time.sleep(0.5)
        STATS.note(f"after {what}: cluster not healthy within {timeout:.0f}s: {t}")
        return False

    def repair(self, what: str) -> None:
        """What an operator does when the cluster did not heal by itself: start stopped nodes,
        rebuild standbys that do not stream, fix the synchronous standby, attach nodes."""
        actions = []
        prim = self.c.primaries()
        if not prim:
            # no primary at all: promote the lowest running node
            for i in self.c.nodes:
                if self.c.role(i) == "standby":
                    self.c.run("promote", str(i))
                    actions.append(f"promote node{i}")
                    prim = [i]
                    break
        if len(prim) > 1:
            # two primaries: keep the one SwiftPool writes to, rebuild the other(s)
            api_p = [i for i, n in self.sp.nodes().items() if n["role"] == "primary"]
            keep = api_p[0] if api_p and api_p[0] in prim else prim[0]
            for i in prim:
                if i != keep:
                    self.c.run("stop-node", str(i), "--immediate", check=False)
                    actions.append(f"stop second primary node{i}")
            prim = [keep]
        p = prim[0]
        try:
            actions.append("sync " + self.c.set_sync(p))
        except Exception as e:
            actions.append(f"set_sync failed: {e}")
        repl = self.c.replication(p)
        for i in self.c.nodes:
            if i == p:
                continue
            if repl.get(f"node{i}", ("", ""))[0] == "streaming":
                continue
            if self.c.role(i) is None and self.c.postmaster_pid(i) is not None:
                try:
                    self.c.start_node(i)
                    actions.append(f"start node{i}")
                    time.sleep(3)
                    if self.c.replication(p).get(f"node{i}", ("", ""))[0] == "streaming":
                        continue
                except Exception as e:
                    actions.append(f"start node{i} failed: {e}")
            r = self.c.run("rebuild-node", str(i), check=False)
            actions.append(f"rebuild node{i} rc={r.returncode}")
        time.sleep(2)
        for i, n in self.sp.nodes().items():
            if n["status"] == "down":
                st, body = self.sp.api("POST", f"/api/v1/nodes/{i}/attach")
                actions.append(f"attach node{i}: {st}")
        api_p = [i for i, n in self.sp.nodes().items() if n["role"] == "primary"]
        if api_p != [p]:
            st, body = self.sp.api("POST", f"/api/v1/nodes/{p}/promote")
            actions.append(f"promote (SwiftPool's idea) node{p}: {st} {body}")
        STATS.repairs.append({"t": round(now(), 1), "after": what, "actions": actions})
        STATS.note(f"repair after {what}: {actions}")

    def settle(self, what: str) -> None:
        if not self.wait_healthy(what, 90):
            try:
                self.repair(what)
            except Exception as e:
                STATS.note(f"repair after {what} failed: {e}")
            if not self.wait_healthy(what + " + repair", 120):
                STATS.note(f"cluster still unhealthy after {what} and repair")

    def primary(self) -> int:
        prim = self.c.primaries()
        if len(prim) != 1:
            raise RuntimeError(f"primaries: {prim}")
        return prim[0]

    def standbys(self) -> list[int]:
        p = self.primary()
        return [i for i in self.c.nodes if i != p]

    # faults
    def standby_kill(self) -> str:
        i = self.rng.choice(self.standbys())
        n = self.c.kill9(i)
        time.sleep(self.rng.uniform(2, 10))
        self.c.start_node(i)
        return f"kill -9 node{i} ({n} processes), restarted"

    def primary_kill(self) -> str:
        p = self.primary()
        n = self.c.kill9(p)
        t0 = time.monotonic()
        new = None
        while time.monotonic() - t0 < 120:
            prim = self.c.primaries()
            try:
                api_p = [i for i, x in self.sp.nodes().items() if x["role"] == "primary"]
            except Exception:
                api_p = []
            if len(prim) == 1 and prim[0] != p and api_p == prim:
                new = prim[0]
                break
            time.sleep(0.5)
        if new is None:
            return f"kill -9 primary node{p} ({n} processes): no new primary within 120 s"
        took = time.monotonic() - t0
        sync = self.c.set_sync(new)
        # re-join: follow_primary.sh rewinds the old primary; when it did not (or at random,
        # as an operator re-cloning it would), rebuild it with pg-cluster.sh rebuild-node.
        rejoin = "follow_primary"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.c.replication(new).get(f"node{p}", ("", ""))[0] == "streaming":
                break
            time.sleep(1)
        else:
            rejoin = "rebuild-node (follow_primary.sh did not bring it back within 30 s)"
        if rejoin.startswith("rebuild") or self.rng.random() < 0.3:
            if not rejoin.startswith("rebuild"):
                rejoin = "rebuild-node"
            r = self.c.run("rebuild-node", str(p), check=False)
            if r.returncode != 0:
                rejoin += f" failed: {r.stderr[-300:]}"
        return (f"kill -9 primary node{p} ({n} processes); node{new} primary in SwiftPool after "
                f"{took:.1f}s; {sync}; old primary re-joined by {rejoin}")

    def api_detach_attach(self) -> str:
        i = self.rng.choice(self.standbys())
        mode = self.rng.choice(["immediate", "graceful"])
        st, body = self.sp.api("POST", f"/api/v1/nodes/{i}/detach?mode={mode}")
        if st != 200:
            return f"detach node{i} ({mode}): HTTP {st} {body}"
        time.sleep(self.rng.uniform(3, 10))
        st2, body2 = self.sp.api("POST", f"/api/v1/nodes/{i}/attach")
        # 409: auto_failback attached it already
        if st2 not in (200, 409):
            STATS.note(f"attach node{i}: HTTP {st2} {body2}")
        return f"detach node{i} ({mode}) HTTP {st}, attach HTTP {st2}"

    def switchover(self) -> str:
        p = self.primary()
        # the synchronous standby (FIRST 1 in node order): it has every acknowledged commit
        repl = self.c.replication(p)
        sync = [int(name[4:]) for name, (_, s) in repl.items() if s == "sync"]
        if not sync:
            return "switchover skipped: no synchronous standby"
        k = sync[0]
        t0 = time.monotonic()
        st, body = self.sp.api("POST", f"/api/v1/nodes/{k}/promote?switchover=true", timeout=180)
        took = time.monotonic() - t0
        if st != 200:
            return f"switchover to node{k}: HTTP {st} {body}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.c.primaries() != [k]:
            time.sleep(0.5)
        value = self.c.set_sync(k) if self.c.primaries() == [k] else "(no sync change: primaries " \
            f"{self.c.primaries()})"
        return f"switchover node{p} -> node{k} via API ({took:.1f}s); {value}"

    def reload_storm(self) -> str:
        n_hup = n_pcp = n_http = 0
        bad = []
        env = {**os.environ, "PCPPASSFILE": str(self.sp.work / "pcppass")}
        for k in range(self.rng.randint(10, 30)):
            r = self.rng.random()
            if r < 0.6:
                self.sp.send(signal.SIGHUP)
                n_hup += 1
            elif r < 0.8:
                p = subprocess.run(["pcp_reload_config", "-h", HOST, "-p", str(self.sp.pcp_port),
                                    "-U", PCP_USER, "-w"], env=env, capture_output=True,
                                   text=True, timeout=30)
                n_pcp += 1
                if p.returncode != 0:
                    bad.append(f"pcp_reload_config rc={p.returncode} {p.stderr.strip()[:200]}")
            else:
                st, body = self.sp.api("POST", "/api/v1/reload")
                n_http += 1
                if st != 200:
                    bad.append(f"POST /api/v1/reload {st} {body}")
            time.sleep(self.rng.uniform(0, 0.2))
        if bad:
            STATS.note(f"reload storm errors: {bad[:5]}")
        return f"{n_hup} SIGHUP, {n_pcp} pcp_reload_config, {n_http} POST /api/v1/reload; {len(bad)} failed"

    def replay_pause(self) -> str:
        i = self.rng.choice(self.standbys())
        self.c.sql(i, "SELECT pg_wal_replay_pause()")
        hold = self.rng.uniform(5, 20)
        time.sleep(hold)
        self.c.sql(i, "SELECT pg_wal_replay_resume()")
        return f"pg_wal_replay_pause() on node{i} for {hold:.0f}s"

    def run(self, deadline: float, self_check: bool) -> None:
        kinds = list(self.weights)
        sigstop_done = not self_check
        while not FAULTS_STOP.is_set():
            wait = self.rng.uniform(*self.interval)
            if time.monotonic() + wait > deadline or FAULTS_STOP.wait(wait):
                break
            if not sigstop_done:
                kind = "self_check_sigstop"
                sigstop_done = True
            else:
                kind = self.rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]
            ok, topo = self.healthy()
            if not ok:
                self.settle(f"before {kind}")
            STATS.current_fault = kind
            started = now()
            log(f"FAULT {kind} ...")
            try:
                if kind == "self_check_sigstop":
                    self.sp.send(signal.SIGSTOP)
                    time.sleep(4)
                    self.sp.send(signal.SIGCONT)
                    detail = "SIGSTOP SwiftPool for 4 s (the probe must notice)"
                else:
                    detail = getattr(self, kind)()
            except Exception as e:
                detail = f"fault failed: {type(e).__name__}: {e}"
                traceback.print_exc()
            STATS.faults[kind] += 1
            self.settle(kind)
            STATS.current_fault = "-"
            entry = {"t": round(started, 1), "kind": kind, "detail": detail,
                     "seconds_to_healthy": round(now() - started, 1)}
            try:
                entry["swiftpool_fds_after"] = self.sp.fds()
                entry["swiftpool_rss_mib_after"] = round(self.sp.rss() / MIB, 1)
            except OSError:
                pass
            STATS.fault_log.append(entry)
            log(f"FAULT {kind} done in {entry['seconds_to_healthy']}s: {detail}")
            if not self.sp.alive():
                STATS.note("SwiftPool is not running any more")
                break


# ----------------------------------------------------------------------------- checks

def backend_count(c: Cluster) -> dict[int, int | None]:
    """Client backends in the load database on each node (SwiftPool's connections)."""
    out = {}
    for i in c.nodes:
        try:
            out[i] = c.sql(i, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                              "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                           params=(DB,))[0][0]
        except Exception:
            out[i] = None
    return out


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT", "07": "CLOSE",
              "08": "CLOSE_WAIT", "0A": "LISTEN", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
              "09": "LAST_ACK", "0B": "CLOSING"}


def fd_table(pid: int) -> collections.Counter:
    """What SwiftPool's descriptors are: files, pipes, and TCP sockets by local/remote port and
    state (the ephemeral side shown as *)."""
    inodes: dict[str, str] = {}
    for proto in ("tcp", "tcp6"):
        try:
            lines = open(f"/proc/{pid}/net/{proto}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            lport = int(f[1].split(":")[1], 16)
            rport = int(f[2].split(":")[1], 16)
            state = TCP_STATES.get(f[3], f[3])
            if state == "LISTEN":
                desc = f"tcp listen :{lport}"
            elif lport > 30000 and rport < 30000:
                desc = f"tcp -> :{rport} {state}"
            else:
                desc = f"tcp :{lport} <- client {state}"
            inodes[f[9]] = desc
    out: collections.Counter = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            out[inodes.get(m.group(1), "socket (unix or other)")] += 1
        elif target.startswith("pipe:"):
            out["pipe"] += 1
        elif target.startswith("anon_inode:"):
            out[target] += 1
        else:
            out[re.sub(r"\d+", "N", target)] += 1
    return out


def idle_snapshot(sp: SwiftPool, c: Cluster) -> dict:
    pool = sp.pool()
    nodes = pool.get("nodes", [])
    return {"fds": sp.fds(), "backends": sum(v or 0 for v in backend_count(c).values()),
            "pool_in_use": sum(n.get("in_use", 0) for n in nodes),
            "pool_idle": sum(n.get("idle", 0) for n in nodes),
            "client_slots_used": pool.get("client_slots_used")}


def rss_verdict(series: list[int]) -> tuple[bool, str]:
    """RSS must not grow cycle over cycle.  The first cycle is warm-up (caches, arenas); after
    it, the last sample may exceed the smallest later one by at most max(8 MiB, 15 %), and the
    samples must not rise in every single cycle (a steady leak) by more than 4 MiB in total."""
    if len(series) < 3:
        return True, "fewer than 3 cycles: not judged"
    later = series[1:]
    base = min(later)
    growth = later[-1] - base
    limit = max(8 * MIB, int(0.15 * base))
    steady = all(b > a for a, b in zip(later, later[1:])) and later[-1] - later[0] > 4 * MIB
    if growth > limit:
        return False, f"grew {growth / MIB:.1f} MiB over the cycles after the first (limit {limit / MIB:.1f})"
    if steady and len(later) >= 3:
        return False, f"rose in every cycle after the first ({later[0] / MIB:.1f} -> {later[-1] / MIB:.1f} MiB)"
    return True, f"growth after warm-up {growth / MIB:.1f} MiB (limit {limit / MIB:.1f})"


# ----------------------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30, help="load duration (default 30)")
    ap.add_argument("--cycle-minutes", type=float, default=None,
                    help="RSS is sampled at the end of each cycle (default: minutes/6, at least 0.5)")
    ap.add_argument("--fault-interval", default="10:40",
                    help="seconds between faults, MIN:MAX, chosen at random (default 10:40)")
    ap.add_argument("--faults", default="standby_kill:2,primary_kill:1.5,api_detach_attach:1.5,"
                    "switchover:1,reload_storm:1.5,replay_pause:1.5",
                    help="fault kinds with weights")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--binary", default=str(REPO / ".build" / "release" / "swiftpool"))
    ap.add_argument("--cluster-dir", default="/tmp/swiftpool-chaos")
    ap.add_argument("--base-port", type=int, default=16601)
    ap.add_argument("--standbys", type=int, default=3)
    ap.add_argument("--port", type=int, default=16432)
    ap.add_argument("--http-port", type=int, default=16719)
    ap.add_argument("--pcp-port", type=int, default=16898)
    ap.add_argument("--results", default=None, help="directory for the report and logs "
                    "(default /tmp/swiftpool-chaos-results-<time>)")
    ap.add_argument("--report", default=None, help="JSON report path (default RESULTS/report.json)")
    ap.add_argument("--settle-timeout", type=float, default=120,
                    help="seconds the leak check waits for connections and fds to return to baseline")
    ap.add_argument("--connection-life-time", type=int, default=10)
    ap.add_argument("--pool-mode", choices=("session", "transaction"), default="session",
                    help="SwiftPool's pool_mode for every client (default session)")
    ap.add_argument("--transaction-pool-size", type=int, default=8,
                    help="transaction_pool_size with --pool-mode transaction (default 8)")
    ap.add_argument("--keep-cluster", action="store_true", help="leave the cluster running at the end")
    ap.add_argument("--self-check", action="store_true",
                    help="inject one failure per check (SIGSTOP of SwiftPool, a deleted acknowledged "
                         "row, held connections, an unmarked cut socket, a fake RSS series, an "
                         "abort of SwiftPool at the end); succeed only if every check catches its failure")
    return ap.parse_args()


def node_path() -> str:
    env = {**os.environ}
    if not (REPO / ".deps").exists() and Path("/work/main/.deps").exists():
        env.setdefault("SWIFTPOOL_DEPS_DIR", "/work/main/.deps")
    p = subprocess.run([str(REPO / "scripts" / "node-path.sh")], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return p.stdout.strip()


def main() -> int:
    a = parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    random.seed(seed + 1)
    results = Path(a.results or f"/tmp/swiftpool-chaos-results-{time.strftime('%Y%m%d-%H%M%S')}")
    results.mkdir(parents=True, exist_ok=True)
    report_path = Path(a.report) if a.report else results / "report.json"
    global PGBENCH_LOG_DIR
    PGBENCH_LOG_DIR = results
    binary = Path(a.binary)
    if not binary.exists():
        print(f"soak.py: {binary} not found (scripts/build-release.sh)", file=sys.stderr)
        return 2
    if psycopg.pq.version() < 170000:
        print(f"soak.py: warning: libpq {psycopg.pq.version()} has no non-blocking cancel; a hung "
              "cancel request would stall the soak", file=sys.stderr)
    lo, hi = (float(x) for x in a.fault_interval.split(":"))
    weights = {k: float(w) for k, w in (item.split(":") for item in a.faults.split(","))}
    cycle_s = (a.cycle_minutes or max(0.5, a.minutes / 6)) * 60
    log(f"seed {seed}, pool mode {a.pool_mode}, results in {results}")

    cluster = Cluster(Path(a.cluster_dir), a.base_port, a.standbys)
    cluster.run("down", "--purge", check=False)
    if not a.keep_cluster:
        CLEANUP.append(lambda: cluster.run("down", "--purge", check=False))
    cluster.run("up")
    env = {}
    for line in cluster.run("env").stdout.splitlines():
        m = re.match(r"export (\w+)='(.*)'$", line)
        if m:
            env[m.group(1)] = m.group(2)
    cluster.pg_bin = env.get("PG_BIN", "")
    # the same synchronous-standby settings on every node, so a promoted standby has them
    for i in cluster.nodes:
        cluster.set_sync(i)
    log(f"cluster up: {cluster.run('status', check=False).stdout.strip()}")

    # schema and pgbench tables, directly on the primary
    pg_env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")},
              "PGPASSWORD": USERS[APP_USER]}
    subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", HOST, "-p", str(cluster.port(0)), "-U",
                    APP_USER, DB], env=pg_env, check=True, capture_output=True)
    with psycopg.connect(host=HOST, port=cluster.port(0), user=APP_USER, password=USERS[APP_USER],
                         dbname=DB, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS chaos_acked, chaos_copy, chaos_killed")
        conn.execute("CREATE TABLE chaos_acked (id bigint PRIMARY KEY, writer text NOT NULL, "
                     "at timestamptz NOT NULL DEFAULT now())")
        conn.execute("CREATE TABLE chaos_copy (a int, b text)")
        conn.execute("CREATE TABLE chaos_killed (id bigserial PRIMARY KEY, note text)")
    time.sleep(1)

    sp = SwiftPool(binary, results / "swiftpool", cluster, a.port, a.http_port, a.pcp_port)
    sp.write_config(a.connection_life_time,
                    a.transaction_pool_size if a.pool_mode == "transaction" else None)
    CLEANUP.append(lambda: sp.stop(signal.SIGKILL, 10) if sp.alive() else None)
    sp.start()
    log(f"SwiftPool pid {sp.pid} on {a.port} (http {a.http_port}, pcp {a.pcp_port})")
    injector = FaultInjector(cluster, sp, rng, (lo, hi), weights)
    if not injector.wait_healthy("start", 60):
        print("soak.py: cluster not healthy at start", file=sys.stderr)
        sp.stop()
        return 2

    # baseline: after a warm-up that runs each kind of thing once (sessions, API calls, a
    # reload, and a detach/attach, which runs failover_command: SwiftPool starts its process
    # monitor lazily) and with the idle pool drained
    last = cluster.nodes[-1]
    st1, _ = sp.api("POST", f"/api/v1/nodes/{last}/detach?mode=graceful")
    time.sleep(2)
    st2, _ = sp.api("POST", f"/api/v1/nodes/{last}/attach")
    log(f"warm-up: detach node{last} HTTP {st1}, attach HTTP {st2}")
    injector.wait_healthy("warm-up", 60)
    for _ in range(3):
        with psycopg.connect(**dsn_kwargs(sp)) as conn:
            conn.execute("SELECT 1").fetchall()
    sp.api("POST", "/api/v1/reload")
    time.sleep(a.connection_life_time + 3)
    base_samples = []
    for _ in range(10):
        base_samples.append(idle_snapshot(sp, cluster))
        time.sleep(0.5)
    baseline = {"fds_min": min(s["fds"] for s in base_samples),
                "fds_max": max(s["fds"] for s in base_samples),
                "backends_max": max(s["backends"] for s in base_samples),
                "pool_in_use": max(s["pool_in_use"] for s in base_samples),
                "pool_idle": max(s["pool_idle"] for s in base_samples),
                "rss": sp.rss()}
    baseline_fds = fd_table(sp.pid)
    log(f"baseline {baseline}")

    # load
    self_cut = threading.Event()
    ids_psy = IdSource(1_000_000_000)
    ids_psy_prep = IdSource(2_000_000_000)
    ids_async = IdSource(3_000_000_000)
    threads = [
        threading.Thread(target=probe_loop, args=(sp,), name="probe"),
        threading.Thread(target=psycopg_writer, args=(sp, ids_psy, False), name="psy_w1"),
        threading.Thread(target=psycopg_writer, args=(sp, ids_psy_prep, True), name="psy_w2"),
        threading.Thread(target=psycopg_reader, args=(sp,), name="psy_r"),
        threading.Thread(target=psycopg_copy, args=(sp,), name="psy_copy"),
        threading.Thread(target=psycopg_cancel, args=(sp,), name="psy_cancel"),
        threading.Thread(target=abrupt_close_client, args=(sp, self_cut), name="abrupt"),
        threading.Thread(target=killer_client, args=(sp,), name="killer"),
        threading.Thread(target=pgbench_runner, name="pgb_tpcb",
                         args=("pgbench_tpcb", sp, ["-c", "3", "-j", "1", "-R", "60"], 15)),
        threading.Thread(target=pgbench_runner, name="pgb_S_simple",
                         args=("pgbench_S_simple", sp, ["-S", "-M", "simple", "-c", "3", "-j", "1", "-R", "150"], 15)),
        threading.Thread(target=pgbench_runner, name="pgb_S_prepared",
                         args=("pgbench_S_prepared", sp, ["-S", "-M", "prepared", "-c", "3", "-j", "1", "-R", "150"], 15)),
        threading.Thread(target=lambda: asyncio.run(asyncpg_main(sp, ids_async)), name="asyncpg"),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    node_proc = node_runner(sp, node_path(), 4_000_000_000)
    CLEANUP.append(lambda: node_proc.kill() if node_proc.poll() is None else None)
    load_started = time.monotonic()
    load_end = load_started + a.minutes * 60
    fault_thread = threading.Thread(target=injector.run, args=(load_end - 5, a.self_check),
                                    name="faults", daemon=True)
    fault_thread.start()

    # cycles: RSS at the end of each; self-check events along the way
    next_cycle = load_started + cycle_s
    cycle = 0
    next_sample = time.monotonic()
    cut_sent = False
    last_tick = time.monotonic()
    while time.monotonic() < load_end and sp.alive():
        time.sleep(0.5)
        if time.monotonic() - last_tick > 5:
            # the soak itself stalled (a blocking call holding the GIL?): its checks are suspect
            STATS.note(f"the soak's main loop stalled for {time.monotonic() - last_tick:.1f}s")
        last_tick = time.monotonic()
        if time.monotonic() >= next_sample:
            STATS.rss_samples.append((round(now(), 1), sp.rss()))
            next_sample += 10
        if a.self_check and not cut_sent and time.monotonic() > load_started + 20:
            self_cut.set()
            cut_sent = True
        if time.monotonic() >= next_cycle:
            cycle += 1
            rss = sp.rss()
            with STATS.lock:
                STATS.rss_cycles.append({"cycle": cycle, "t": round(now(), 1), "rss_mib": round(rss / MIB, 2),
                                         "completed": sum(STATS.completed.values())})
            log(f"cycle {cycle}: RSS {rss / MIB:.1f} MiB, completed {sum(STATS.completed.values())}, "
                f"faults {dict(STATS.faults)}")
            next_cycle += cycle_s
    crashed_during = not sp.alive()

    # stop: faults first (a running fault finishes and the cluster settles), then the load
    log("load phase over: stopping faults")
    FAULTS_STOP.set()
    fault_thread.join(400)
    fault_hung = fault_thread.is_alive()
    if not crashed_during:
        injector.settle("end of faults")
    log("stopping clients")
    STOP.set()
    node_proc.send_signal(signal.SIGTERM)
    try:
        node_proc.wait(30)
    except subprocess.TimeoutExpired:
        node_proc.kill()
        STATS.note("node client did not stop within 30 s of SIGTERM")
    hung_threads = []
    join_deadline = time.monotonic() + 90
    for t in threads:
        t.join(max(0.1, join_deadline - time.monotonic()))
        if t.is_alive():
            hung_threads.append(t.name)
    hung_work = {k: round(now() - t, 1) for k, t in INFLIGHT.items() if now() - t > 30}
    hung_sessions = None
    if hung_threads or hung_work:
        STATS.note(f"client threads still running 90 s after stop: {hung_threads}; work in "
                   f"progress for over 30 s (kind: seconds): {hung_work}")
        try:
            hung_sessions = [x for x in sp.api("GET", "/api/v1/sessions")[1].get("sessions", [])
                             if x.get("state") != "idle"]
            STATS.note(f"SwiftPool sessions not idle then: {hung_sessions}")
        except Exception as e:
            STATS.note(f"GET /api/v1/sessions failed: {e}")
    cycle += 1
    final_rss = sp.rss() if sp.alive() else 0
    STATS.rss_cycles.append({"cycle": cycle, "t": round(now(), 1), "rss_mib": round(final_rss / MIB, 2),
                             "completed": sum(STATS.completed.values()), "final": True})

    # leak check: backends, pool and fds back to baseline
    held = []
    if a.self_check and sp.alive():
        for _ in range(3):
            c = psycopg.connect(**dsn_kwargs(sp, application_name="chaos_selfcheck_held"))
            c.execute("SELECT 1").fetchall()
            held.append(c)
        STATS.note("self-check: holding 3 client connections open during the leak check")
    leak = {"baseline": baseline, "converged": False, "seconds": None, "last": None}
    if sp.alive():
        log(f"leak check: waiting up to {a.settle_timeout:.0f}s for fds, backends and the pool "
            "to return to the baseline")
        t_start = time.monotonic()
        while time.monotonic() - t_start < a.settle_timeout:
            try:
                s = idle_snapshot(sp, cluster)
            except Exception as e:
                s = {"error": str(e)}
            leak["last"] = s
            if ("fds" in s and s["fds"] <= baseline["fds_max"] and s["backends"] <= baseline["backends_max"]
                    and s["pool_in_use"] <= baseline["pool_in_use"] and s["pool_idle"] <= baseline["pool_idle"]):
                leak["converged"] = True
                leak["seconds"] = round(time.monotonic() - t_start, 1)
                break
            time.sleep(1)
    if sp.alive():
        end_fds = fd_table(sp.pid)
        leak["fd_diff_end_minus_baseline"] = {k: end_fds[k] - baseline_fds[k]
                                              for k in set(end_fds) | set(baseline_fds)
                                              if end_fds[k] != baseline_fds[k]}
        leak["fds_at_baseline"] = dict(baseline_fds)
        log(f"leak check: converged={leak['converged']} last={leak['last']} "
            f"fd diff {leak['fd_diff_end_minus_baseline']}")
    for c in held:
        c.close()

    # lost commits: every acknowledged id must be on the current primary
    lost_info: dict = {}
    try:
        prim = cluster.primaries()
        if len(prim) != 1:
            raise RuntimeError(f"primaries {prim}")
        p = prim[0]
        acked = {k: list(v) for k, v in STATS.acked.items()}
        all_acked = [i for v in acked.values() for i in v]
        if a.self_check and all_acked:
            victim = all_acked[len(all_acked) // 2]
            cluster.sql(p, "DELETE FROM chaos_acked WHERE id = %s", db=DB, params=(victim,))
            STATS.note(f"self-check: deleted acknowledged id {victim} on node{p}")
        rows = cluster.sql(p, "SELECT id FROM chaos_acked", db=DB)
        present = {r[0] for r in rows}
        missing = sorted(i for i in all_acked if i not in present)
        lost_info = {"primary": p, "acknowledged": len(all_acked),
                     "acknowledged_per_writer": {k: len(v) for k, v in acked.items()},
                     "rows_in_table": len(present), "lost": len(missing), "lost_ids": missing[:50],
                     "duplicates_acked": len(all_acked) - len(set(all_acked))}
    except Exception as e:
        lost_info = {"error": f"{type(e).__name__}: {e}"}

    # stop SwiftPool (fast shutdown: SIGTERM would wait for the sessions of clients that hung);
    # a crash or a hang on stop is a finding
    STATS.frozen = True
    stop_info = sp.stop(signal.SIGABRT if a.self_check else signal.SIGINT)
    if a.self_check:
        # the soak sent SIGABRT itself; for the self-check pretend it did not, so the crash
        # detector must fire
        sp.sent_signals = [s for s in sp.sent_signals if s != signal.SIGABRT]
        rc = stop_info["exit"]
        stop_info["crashed"] = rc is not None and rc < 0 and -rc in CRASH_SIGNALS
    shutil.copy2(sp.log_path, results / "swiftpool.log")
    for f in (cluster.dir / "log").glob("node*.log"):
        shutil.copy2(f, results / f.name)
    # verdicts
    rss_series = [c["rss_mib"] for c in STATS.rss_cycles]
    rss_ok, rss_text = rss_verdict([int(x * MIB) for x in rss_series])
    if a.self_check:
        fake = [30 * MIB, 32 * MIB, 40 * MIB, 48 * MIB, 56 * MIB]
        fake_ok, fake_text = rss_verdict(fake)
        rss_ok, rss_text = fake_ok, f"self-check on a fabricated series {[x // MIB for x in fake]} MiB: {fake_text}"
    checks = {
        "swiftpool_alive": {"ok": not crashed_during and not stop_info["crashed"] and not stop_info["hung_on_stop"],
                            "detail": {"died_during_load": crashed_during, **stop_info}},
        "probe": {"ok": not STATS.probe_violations,
                  "detail": {"probes": STATS.probe_count, "violations": len(STATS.probe_violations),
                             "max_seconds": round(STATS.probe_max, 3),
                             "errors": dict(STATS.probe_errors)}},
        "no_lost_commits": {"ok": lost_info.get("lost") == 0, "detail": lost_info},
        "leaks": {"ok": leak["converged"], "detail": leak},
        "rss": {"ok": rss_ok, "detail": rss_text},
        "sqlstate": {"ok": not STATS.no_sqlstate_count,
                     "detail": {"errors_without_sqlstate": sum(STATS.no_sqlstate_count.values())}},
        "no_hung_clients": {"ok": not hung_threads and not hung_work and not fault_hung,
                            "detail": {"client_threads": hung_threads, "work_in_progress_seconds": hung_work,
                                       "sessions_not_idle": hung_sessions, "fault_thread": fault_hung}},
        "copy_integrity": {"ok": not STATS.copy_mismatch, "detail": STATS.copy_mismatch[:10]},
    }
    errors_by_state: dict[str, int] = collections.Counter()
    for (kind, state), n in STATS.errors.items():
        if n:
            errors_by_state[state] += n
    report = {
        "seed": seed, "self_check": a.self_check, "minutes": a.minutes, "pool_mode": a.pool_mode,
        "duration_seconds": round(time.monotonic() - load_started, 1),
        "completed": dict(STATS.completed),
        "faults": dict(STATS.faults), "fault_log": STATS.fault_log,
        "errors_by_sqlstate": dict(sorted(errors_by_state.items(), key=lambda kv: -kv[1])),
        "errors_by_client_and_sqlstate": {f"{k} {s}": n for (k, s), n in sorted(STATS.errors.items()) if n},
        "errors_without_sqlstate": {f"{k}: {c}": n for (k, c), n in STATS.no_sqlstate_count.items()},
        "errors_without_sqlstate_samples": STATS.no_sqlstate[:50],
        "error_samples": STATS.error_samples,
        "pgbench_server_messages": dict(STATS.pgbench_messages),
        "connection_lost_on_clients_the_soak_killed": dict(STATS.killed_errors),
        "asyncpg_fatal_lost_by_the_driver": dict(STATS.driver_lost_fatal),
        "cancels": dict(STATS.cancel),
        "probe_violations": STATS.probe_violations[:100],
        "rss_mib_per_cycle": rss_series, "rss_cycles": STATS.rss_cycles,
        "rss_samples": [(t, round(r / MIB, 2)) for t, r in STATS.rss_samples],
        "repairs": STATS.repairs, "notes": STATS.notes,
        "checks": checks,
    }
    if a.self_check:
        # every check that has an injected failure must have failed
        expected_fail = ["swiftpool_alive", "probe", "no_lost_commits", "leaks", "rss", "sqlstate"]
        caught = {k: not checks[k]["ok"] for k in expected_fail}
        report["self_check_caught"] = caught
        passed = all(caught.values())
    else:
        passed = all(c["ok"] for c in checks.values())
    report["passed"] = passed
    report_path.write_text(json.dumps(report, indent=2, default=str))
    print_summary(report, report_path)
    return 0 if passed else 1


def print_summary(r: dict, path: Path) -> None:
    out = []
    out.append("=" * 78)
    out.append(f"SwiftPool chaos soak{' (SELF-CHECK)' if r['self_check'] else ''}: "
               f"{r['duration_seconds']:.0f} s of load, seed {r['seed']}, pool mode {r.get('pool_mode', 'session')}")
    out.append("completed (transactions / statements) per client kind:")
    for k, v in sorted(r["completed"].items()):
        out.append(f"  {k:24} {v}")
    out.append("faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items())))
    out.append("errors per SQLSTATE: " + (", ".join(f"{k} {v}" for k, v in r["errors_by_sqlstate"].items()) or "none"))
    if r["errors_without_sqlstate"]:
        out.append("errors WITHOUT SQLSTATE:")
        for k, v in r["errors_without_sqlstate"].items():
            out.append(f"  {v:5}  {k}")
    out.append(f"connection lost on clients the soak killed: {sum(r['connection_lost_on_clients_the_soak_killed'].values())}")
    if r.get("asyncpg_fatal_lost_by_the_driver"):
        out.append(f"asyncpg FATALs lost by the driver's race (MagicStack/asyncpg#784): "
                   f"{sum(r['asyncpg_fatal_lost_by_the_driver'].values())}")
    out.append(f"cancels: {r['cancels']}")
    c = r["checks"]
    out.append(f"probe: {c['probe']['detail']['probes']} probes, max {c['probe']['detail']['max_seconds']} s, "
               f"{c['probe']['detail']['violations']} violations")
    lost = c["no_lost_commits"]["detail"]
    out.append(f"commits: {lost.get('acknowledged')} acknowledged, {lost.get('lost')} lost "
               f"{lost.get('error', '')}")
    leak = c["leaks"]["detail"]
    b = leak["baseline"]
    out.append(f"baseline: fds {b['fds_min']}-{b['fds_max']}, backends {b['backends_max']}, pool idle "
               f"{b['pool_idle']} / in use {b['pool_in_use']}; end: {leak['last']} "
               f"(converged: {leak['converged']} after {leak['seconds']} s)")
    out.append(f"RSS per cycle (MiB): {r['rss_mib_per_cycle']}  ({c['rss']['detail']})")
    if r["repairs"]:
        out.append(f"operator repairs: {len(r['repairs'])}")
    out.append("checks:")
    for k, v in c.items():
        out.append(f"  {'PASS' if v['ok'] else 'FAIL'}  {k}")
    if r["self_check"]:
        out.append(f"self-check, failure caught per check: {r['self_check_caught']}")
    out.append(f"RESULT: {'PASSED' if r['passed'] else 'FAILED'}   (report: {path})")
    out.append("=" * 78)
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    rc = 130
    try:
        rc = main()
    except KeyboardInterrupt:
        pass
    finally:
        STOP.set()
        FAULTS_STOP.set()
        for fn in reversed(CLEANUP):
            try:
                fn()
            except Exception as e:
                print(f"soak.py: cleanup: {e}", file=sys.stderr)
    sys.exit(rc)
