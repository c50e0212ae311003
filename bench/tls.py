#!/usr/bin/env python3
"""bench/tls.py — what TLS costs through SwiftPool, against direct PostgreSQL and PgBouncer.

For each target, with sslmode=require and with sslmode=disable: pgbench -S at 8 clients
(throughput, ratio to direct PostgreSQL with the same sslmode), and pgbench -S -C at 1 client
(a new connection per transaction), from which the handshake's cost per connection is
the difference of the time per connection with and without TLS. SwiftPool and PgBouncer get the
test cluster's server certificate (scripts/pg-cluster.sh makes it); their backends are reached
without TLS, so only the client side is measured.

Run on purpose, never in CI:  bench/tls.py [--seconds 5]
It uses $SWIFTPOOL_BIN, else .build/release/swiftpool, and the cluster of scripts/pg-cluster.sh.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watchdog import HOST, REPO, binary, free_port, start_from_demo, wait_port  # noqa: E402

DB, USER, PASSWORD = "swiftpool_test", "app_readwrite", "readwrite456"


def cluster_env() -> dict[str, str]:
    out = subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "env"], capture_output=True, text=True, check=True).stdout
    return {k: v.strip("'\"") for k, _, v in (line[len("export "):].partition("=") for line in out.splitlines()
                                                   if line.startswith("export "))}


def pgbench(port: int, sslmode: str, seconds: float, clients: int, connect: bool) -> float:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "PGPASSWORD": PASSWORD, "PGSSLMODE": sslmode}
    args = ["pgbench", "-n", "-S", "-h", HOST, "-p", str(port), "-U", USER, "-c", str(clients), "-j", str(min(clients, 2)),
            "-T", str(int(seconds)), DB]
    if connect:
        args.insert(2, "-C")
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds * 4 + 60)
    match = re.search(r"tps = ([0-9.]+)", out.stdout)
    if not match:
        raise RuntimeError(f"pgbench on {port} ({sslmode}) failed: {out.stderr[-500:]}")
    return float(match.group(1))


def start_swiftpool(root: Path, cert: Path, key: Path) -> tuple[subprocess.Popen, int]:
    return start_from_demo(root, {"load_balance_mode": "off", "ssl": "on", "ssl_cert": f"'{cert}'",
                                  "ssl_key": f"'{key}'", "backend_sslmode": "'disable'"})


def start_pgbouncer(root: Path, primary: int, *, max_client_conn: int = 100, pool_size: int = 20,
                    extra: str = "") -> tuple[subprocess.Popen, int] | None:
    """PgBouncer in transaction mode in front of the primary, files under `root`, `extra` lines
    appended to its [pgbouncer] section; None when PgBouncer is not installed."""
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(exe).exists():
        return None
    port = free_port()
    (root / "userlist.txt").write_text(f'"{USER}" "{PASSWORD}"\n')
    (root / "pgbouncer.ini").write_text(f"""[databases]
{DB} = host={HOST} port={primary} dbname={DB}

[pgbouncer]
listen_addr = {HOST}
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {root}/userlist.txt
pool_mode = transaction
max_client_conn = {max_client_conn}
default_pool_size = {pool_size}
logfile = {root}/pgbouncer.log
pidfile = {root}/pgbouncer.pid
{extra}""")
    run = [exe, str(root / "pgbouncer.ini")]
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", "postgres:", str(root)], check=True)
        run = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *run]
    log = open(root / "stdout.log", "ab")
    proc = subprocess.Popen(run, stdout=log, stderr=log)
    wait_port(port)
    return proc, port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    subprocess.run([str(REPO / "scripts" / "pg-cluster.sh"), "up"], check=True, stdout=subprocess.DEVNULL)
    env = cluster_env()
    primary = int(env["PG_PRIMARY_PORT"])
    tls_dir = Path(env["PG_SSL_ROOT_CERT"]).parent
    root = Path(tempfile.mkdtemp(prefix="swiftpool-tls-bench-"))
    root.chmod(0o755)  # PgBouncer runs as postgres when this runs as root
    cert, key = root / "server.crt", root / "server.key"
    shutil.copy2(tls_dir / "server.crt", cert)
    shutil.copy2(tls_dir / "server.key", key)
    key.chmod(0o600)
    (root / "sp").mkdir()
    (root / "pgb").mkdir()
    procs = []
    try:
        sp, sp_port = start_swiftpool(root / "sp", cert, key)
        procs.append(sp)
        targets = {"direct": primary, "swiftpool": sp_port}
        shutil.copy2(cert, root / "pgb" / "server.crt")
        shutil.copy2(key, root / "pgb" / "server.key")
        pgb = start_pgbouncer(root / "pgb", primary, extra=f"client_tls_sslmode = allow\n"
                              f"client_tls_cert_file = {root / 'pgb' / 'server.crt'}\n"
                              f"client_tls_key_file = {root / 'pgb' / 'server.key'}\n")
        if pgb:
            procs.append(pgb[0])
            targets["pgbouncer"] = pgb[1]
        print(f"binary {binary()}, {a.seconds:.0f} s per run; client side TLS only (backends without TLS)")
        results: dict[tuple[str, str], tuple[float, float]] = {}
        for sslmode in ("require", "disable"):
            for name, port in targets.items():
                results[(name, sslmode)] = (pgbench(port, sslmode, a.seconds, 8, False), pgbench(port, sslmode, a.seconds, 1, True))
        print(f"{'target':10} {'sslmode':8} {'-S c8 tps':>10} {'x direct':>9} {'-C c1 tps':>10} {'ms/conn':>8} {'TLS +ms/conn':>13}")
        for sslmode in ("require", "disable"):
            for name in targets:
                tps, ctps = results[(name, sslmode)]
                direct = results[("direct", sslmode)][0]
                extra = 1000 / ctps - 1000 / results[(name, "disable")][1]
                print(f"{name:10} {sslmode:8} {tps:10.0f} {tps / direct:8.2f}x {ctps:10.1f} {1000 / ctps:8.2f} "
                      f"{extra if sslmode == 'require' else 0:13.2f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
