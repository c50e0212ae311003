"""A fleet of three SwiftPools coordinated through a three-member etcd cluster on loopback
(coordination = 'etcd'): one leader holding a leased key, takeover after kill -9, backend
failover decided once for the fleet, operator detaches seen by every member, etcd losing one
member and then its quorum, and etcd's authentication refusing wrong credentials.

Every member has its own free ports on 127.0.0.1; etcd too.  Tests that stop PostgreSQL nodes
use a private cluster, so the shared one is never changed.
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import HOST, free_port_block, free_ports, session_ports
from etcd_cluster import EtcdCluster, etcd_binary
from private_cluster import PrivateCluster
from test_watchdog import (AUTH, HEALTH, READS, Member, drop_backends, marker_lines,
                           marker_scripts, metric, metric_sum, node_status_everywhere, parse_watchdog_info,
                           private_backends, start_all, wait_for, write_script)

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (Debian's etcd-server)")

TTL = 5
CONVERGE_TIMEOUT = 30


@pytest.fixture
def etcd(tmp_path):
    ec = EtcdCluster(Path(f"/tmp/swp-etcd-{os.getpid()}-{time.monotonic_ns() % 100000}"), size=3)
    try:
        ec.up()
        yield ec
    finally:
        ec.down()
        import shutil
        shutil.rmtree(ec.dir, ignore_errors=True)


@pytest.fixture
def private_pg():
    base = free_port_block(3)
    pc = PrivateCluster(Path(f"/tmp/swp-etcd-pg-{os.getpid()}-{base}"), base_port=base, standbys=2)
    try:
        pc.up()
        yield pc
    finally:
        pc.run("down", "--purge", check=False)
        Path(f"{pc.dir}.lock").unlink(missing_ok=True)


def make_fleet(swiftpool, tmp_path: Path, ec: EtcdCluster, n: int = 3, common: dict[str, Any] | None = None,
               per_member: list[dict[str, Any]] | None = None) -> list[Member]:
    """Members m0..m(n-1) (not started), every one with etcd coordination under one prefix and
    escalation commands that leave a line in its marker directory."""
    pg_ports = free_ports(n)
    used = set(pg_ports)
    pcp_ports = [p for p in free_ports(3 * n) if p not in used][:n]
    http_ports = [p for p in free_ports(4 * n) if p not in used and p not in pcp_ports][:n]
    prefix = f"/swiftpool-test/{os.getpid()}-{pg_ports[0]}"
    members = []
    for i in range(n):
        name = f"m{i}"
        over: dict[str, Any] = {
            "coordination": "etcd", "etcd_endpoints": ec.endpoints, "etcd_prefix": prefix, "etcd_ttl": TTL,
            "etcd_member_name": name, "log_min_messages": "info",
            "port": pg_ports[i], "pcp_port": pcp_ports[i], "http_port": http_ports[i], "http_listen_addresses": HOST,
            **(common or {})}
        over.update(marker_scripts(tmp_path / f"{name}-markers", None))
        over.update((per_member or [{}] * n)[i])
        inst = swiftpool(over, name=name, start=False)
        members.append(Member(inst, i, HOST, 0, 0, pg_ports[i], 0, marker_dir=tmp_path / f"{name}-markers"))
    return members


def leader_of(info: dict[str, Any]) -> str | None:
    return info["leader"]["name"] if info.get("leader") else None


def describe(members: list[Member]) -> str:
    out = []
    for m in members:
        try:
            info = m.watchdog()
            out.append(f"{m.name}: {info['state']} leader={leader_of(info)} escalated={info['escalated']} "
                       f"quorum={info['quorum']['text']} etcd={info.get('etcd')} members="
                       + ",".join(f"{x['name']}={x['state']}" for x in info["members"]))
        except Exception as e:  # noqa: BLE001 - a description for a failure message
            out.append(f"{m.name}: {e!r}")
    return "\n".join(out)


def fleet_leader(members: list[Member]) -> Member | None:
    """The member every running member names as leader, when that member says LEADER, is
    escalated, and all of them see every running member."""
    running = [m for m in members if m.inst.is_running()]
    infos = {m.name: m.watchdog() for m in running}
    leaders = {leader_of(i) for i in infos.values()}
    if len(leaders) != 1 or None in leaders:
        return None
    name = leaders.pop()
    leader = next((m for m in running if m.name == name), None)
    if leader is None or infos[name]["state"] != "LEADER" or not infos[name]["escalated"]:
        return None
    for m in running:
        info = infos[m.name]
        if info["back_end"] != "etcd" or info["quorum"]["status"] != 1:
            return None
        if m is not leader and (info["state"] != "STANDBY" or info["escalated"]):
            return None
        alive = {x["name"] for x in info["members"] if x["alive"]}
        if not {r.name for r in running} <= alive:
            return None
    return leader


def wait_fleet_leader(members: list[Member], timeout: float = CONVERGE_TIMEOUT) -> Member:
    return wait_for(lambda: fleet_leader(members), timeout, lambda: describe(members), interval=0.2)


# --------------------------------------------------------------------------- leader, takeover

def test_one_leader_and_takeover_after_kill_9(swiftpool, tmp_path, etcd):
    members = make_fleet(swiftpool, tmp_path, etcd, common=READS)
    start_all(members)
    leader = wait_fleet_leader(members)
    others = [m for m in members if m is not leader]
    wait_for(lambda: len(leader.marker("escalation")) == 1, 5, lambda: leader.marker("escalation"))
    assert not any(o.marker("escalation") for o in others)

    # Every surface shows the three members seen in etcd.
    for m in members:
        plain = parse_watchdog_info(m.pcp("pcp_watchdog_info").stdout)
        assert plain["total"] == 3 and plain["escalated"] == (m is leader), (m.name, plain)
        states = {node["pgpool_port"]: node["state_name"] for node in plain["nodes"]}
        assert states == {x.pgpool_port: "LEADER" if x is leader else "STANDBY" for x in members}, plain
        assert plain["leader_name"].startswith(f"{HOST}:{leader.pgpool_port} "), plain
        assert m.leader_probe().status_code == (200 if m is leader else 503)
        text = m.metrics()
        assert metric(text, "swiftpool_watchdog_is_leader") == (1 if m is leader else 0)
        assert metric(text, "swiftpool_etcd_enabled") == 1 and metric(text, "swiftpool_etcd_reachable") == 1
        wait_for(lambda: metric_sum(m.metrics(), "swiftpool_etcd_requests_total", kind="renew", result="ok") >= 1, TTL,
                 lambda: m.metrics())

    # Sessions on the other members, open across the takeover.
    sessions = {o.name: o.connect() for o in others}
    for conn in sessions.values():
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    t0 = time.monotonic()
    leader.inst.kill()
    new_leader = wait_for(lambda: fleet_leader(members), TTL + 10, lambda: describe(members), interval=0.1)
    took = time.monotonic() - t0
    print(f"\ntakeover after kill -9 of {leader.name}: {took:.2f} s (etcd_ttl = {TTL} s)")
    # The lease (TTL) bounds the takeover; etcd's own lease expiry, raft commits and the
    # escalation script add to it on a loaded machine. Far below any non-lease timeout.
    assert new_leader is not leader and took <= 2 * TTL + 2, (took, describe(members))
    wait_for(lambda: len(new_leader.marker("escalation")) == 1, 5, lambda: new_leader.marker("escalation"))
    for name, conn in sessions.items():
        assert conn.execute("SELECT 2").fetchone()[0] == 2, f"the session on {name} did not survive the takeover"
        conn.close()
    # The killed member is shown as lost by the survivors.
    info = new_leader.watchdog()
    lost = [x for x in info["members"] if x["name"] == leader.name]
    assert lost and lost[0]["state"] == "LOST" and not lost[0]["alive"], info["members"]


# --------------------------------------------------------------------------- backend failover

def test_standby_failure_is_failed_over_once_in_the_fleet(swiftpool, tmp_path, etcd, private_pg):
    pc = private_pg
    shared_file = tmp_path / "failover_runs.log"
    script = write_script(tmp_path / "failover.sh", f'echo "$1 node=$2" >> "{shared_file}"\n')
    common = {**HEALTH, **private_backends(pc, HOST), "sr_check_period": 0, "load_balance_mode": False,
              "failover_when_quorum_exists": True, "failover_require_consensus": True}
    per = [{"failover_command": f"{script} m{i} %d"} for i in range(3)]
    members = make_fleet(swiftpool, tmp_path, etcd, common=common, per_member=per)
    for m in members:
        drop_backends(m.inst, len(pc.nodes))
    start_all(members)
    leader = wait_fleet_leader(members)
    for m in members:
        wait_for(lambda: all(m.node(i)["status"] in ("up", "waiting") for i in pc.nodes), 20,
                 lambda: [m.node(i) for i in pc.nodes])

    pc.stop_node(2, immediate=True)
    for m in members:
        wait_for(lambda: node_status_everywhere(m, 2) == ("down", "down", "down"), 30,
                 lambda: (m.name, node_status_everywhere(m, 2), m.log()[-2000:]))
    # Room for a second (wrong) run: every member's health check keeps failing meanwhile.
    time.sleep(3)
    runs = marker_lines(shared_file)
    assert runs == [f"{leader.name} node=2"], f"failover_command ran {len(runs)} times, or not on the leader: {runs}"
    assert metric_sum(leader.metrics(), "swiftpool_watchdog_failover_requests_total", result="applied") >= 1
    for m in members:
        assert node_status_everywhere(m, 1)[2] in ("up", "waiting")


def test_pcp_detach_on_any_member_reroutes_every_member(swiftpool, tmp_path, etcd, cluster):
    members = make_fleet(swiftpool, tmp_path, etcd, common=READS)
    start_all(members)
    leader = wait_fleet_leader(members)
    asker = next(m for m in members if m is not leader)
    node3 = cluster.node_port(3)
    for m in members:
        assert node3 in session_ports(m.inst, 40), f"{m.name} sends no reads to node 3 before the detach"

    asker.pcp("pcp_detach_node", "-n", "3")
    for m in members:
        wait_for(lambda: m.node(3)["status"] == "down", 10, lambda: (m.name, m.node(3)))
        ports = session_ports(m.inst, 40)
        assert node3 not in ports, f"{m.name} still reads from node 3: {ports}"

    asker.pcp("pcp_attach_node", "-n", "3")
    for m in members:
        wait_for(lambda: m.node(3)["status"] in ("up", "waiting"), 10, lambda: (m.name, m.node(3)))


# --------------------------------------------------------------------------- etcd losing members

def test_etcd_member_loss_then_quorum_loss_then_return(swiftpool, tmp_path, etcd, private_pg):
    pc = private_pg
    shared_file = tmp_path / "failover_runs.log"
    script = write_script(tmp_path / "failover.sh", f'echo "$1 node=$2" >> "{shared_file}"\n')
    common = {**HEALTH, **private_backends(pc, HOST), "sr_check_period": 0, "load_balance_mode": False}
    per = [{"failover_command": f"{script} m{i} %d"} for i in range(3)]
    members = make_fleet(swiftpool, tmp_path, etcd, common=common, per_member=per)
    for m in members:
        drop_backends(m.inst, len(pc.nodes))
    start_all(members)
    leader = wait_fleet_leader(members)

    # One etcd member killed (a follower: killing etcd's own leader would add an election that,
    # on a loaded machine, can outlast SwiftPool's lease): nothing changes (same leader, still
    # escalated, no de-escalation).
    first = etcd.follower()
    etcd.kill(first)
    time.sleep(2 * TTL)
    assert fleet_leader(members) is leader, describe(members)
    assert not leader.marker("de_escalation"), leader.marker("de_escalation")

    # Two killed: no quorum in etcd.  The leader lets go before its lease could end; every
    # member keeps serving; a backend failure is quarantined, never failed over.
    second = etcd.running()[0]
    etcd.kill(second)
    t0 = time.monotonic()
    wait_for(lambda: leader.marker("de_escalation"), TTL + 5, lambda: describe(members))
    print(f"\nleader de-escalated {time.monotonic() - t0:.2f} s after etcd lost its quorum (etcd_ttl = {TTL} s)")
    for m in members:
        wait_for(lambda: m.watchdog()["quorum"]["status"] == -1, 10, lambda: describe(members))
        assert m.watchdog()["escalated"] is False
        with m.connect() as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
    pc.stop_node(2, immediate=True)
    for m in members:
        wait_for(lambda: m.node(2)["status"] == "quarantine", 30, lambda: (m.name, m.node(2), m.log()[-1500:]))
    pc.start_node(2)
    for m in members:
        wait_for(lambda: m.node(2)["status"] in ("up", "waiting"), 30, lambda: (m.name, m.node(2)))
    assert marker_lines(shared_file) == [], "failover_command ran without etcd"

    # etcd back: one leader again, nothing failed over.
    etcd.start(first)
    etcd.start(second)
    etcd.wait_healthy()
    wait_fleet_leader(members, timeout=TTL + 20)
    time.sleep(2)
    assert marker_lines(shared_file) == [], "failover_command ran when etcd came back"
    escalated = [m.name for m in members if m.watchdog()["escalated"]]
    assert len(escalated) == 1, describe(members)


# --------------------------------------------------------------------------- authentication

def test_wrong_etcd_credentials_stop_start_up_with_a_clear_error(swiftpool, tmp_path):
    ec = EtcdCluster(Path(f"/tmp/swp-etcd-auth-{os.getpid()}-{time.monotonic_ns() % 100000}"), size=1)
    try:
        ec.up()
        for args in (["user", "add", "root:rootpass"], ["user", "add", "swiftpool:rightpass"],
                     ["role", "add", "fleet"], ["role", "grant-permission", "fleet", "--prefix=true", "readwrite", "/fleet/"],
                     ["user", "grant-role", "swiftpool", "fleet"], ["auth", "enable"]):
            done = ec.etcdctl(*args, user="root:rootpass" if args[0] != "user" or args[1] != "add" else None)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        common = {"coordination": "etcd", "etcd_endpoints": ec.endpoints, "etcd_prefix": "/fleet/a",
                  "etcd_ttl": TTL, "etcd_username": "swiftpool", "http_listen_addresses": HOST}
        wrong = swiftpool({**common, "etcd_password": "wrongpass"}, name="wrong", start=False)
        wrong.start(wait=False)
        code = wrong.wait_exit(20)
        log = wrong.log()
        assert code not in (None, 0), f"started with a wrong etcd password:\n{log[-2000:]}"
        assert "etcd refused the credentials of etcd_username" in log, log[-2000:]
        assert "wrongpass" not in log, "the password appears in the log"

        right = swiftpool({**common, "etcd_password": "rightpass"}, name="right")
        info = requests.get(f"http://{HOST}:{right.http_port}/api/v1/watchdog", auth=AUTH, timeout=5).json()
        wait_for(lambda: requests.get(f"http://{HOST}:{right.http_port}/api/v1/watchdog", auth=AUTH,
                                      timeout=5).json()["state"] == "LEADER", 15, lambda: right.log()[-2000:])
        config = requests.get(f"http://{HOST}:{right.http_port}/api/v1/config", auth=AUTH, timeout=5).text
        assert "rightpass" not in config and "etcd_password" in config, config[:500]
        assert info["back_end"] == "etcd"
    finally:
        ec.down()
        import shutil
        shutil.rmtree(ec.dir, ignore_errors=True)


# --------------------------------------------------------------------------- TLS

def make_certificates(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    import subprocess
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        done = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (args, done.stderr)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=swp-test-ca")
    (d / "server.cnf").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    (d / "client.cnf").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=swiftpool")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem",
            "-days", "2", "-extfile", f"{name}.cnf")


def test_etcd_over_tls_with_a_client_certificate(swiftpool, tmp_path):
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        pytest.skip("openssl is missing")
    certs = tmp_path / "certs"
    make_certificates(certs)
    client, peer = free_ports(2)
    data = Path(f"/tmp/swp-etcd-tls-{os.getpid()}-{client}")
    log = open(tmp_path / "etcd.log", "ab")
    etcd = subprocess.Popen(
        [etcd_binary() or "etcd", "--name", "t", "--data-dir", str(data),
         "--listen-client-urls", f"https://{HOST}:{client}", "--advertise-client-urls", f"https://{HOST}:{client}",
         "--listen-peer-urls", f"http://{HOST}:{peer}", "--initial-advertise-peer-urls", f"http://{HOST}:{peer}",
         "--initial-cluster", f"t=http://{HOST}:{peer}", "--cert-file", str(certs / "server.pem"),
         "--key-file", str(certs / "server.key"), "--client-cert-auth", "--trusted-ca-file", str(certs / "ca.pem")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    try:
        common = {"coordination": "etcd", "etcd_endpoints": f"https://{HOST}:{client}", "etcd_prefix": "/tls/fleet",
                  "etcd_ttl": TTL, "etcd_ca_file": str(certs / "ca.pem"), "http_listen_addresses": HOST}
        good = swiftpool({**common, "etcd_cert_file": str(certs / "client.pem"), "etcd_key_file": str(certs / "client.key"),
                          "etcd_member_name": "good"}, name="good")
        url = f"http://{HOST}:{good.http_port}/api/v1/watchdog"
        wait_for(lambda: requests.get(url, auth=AUTH, timeout=5).json()["state"] == "LEADER", 20, lambda: good.log()[-2000:])
        assert requests.get(url, auth=AUTH, timeout=5).json()["etcd"]["reachable"] is True
        # Without a client certificate etcd refuses the connection: the member serves, unescalated.
        bare = swiftpool({**common, "etcd_member_name": "bare"}, name="bare")
        bare_url = f"http://{HOST}:{bare.http_port}/api/v1/watchdog"
        wait_for(lambda: "no endpoint answers yet" in bare.log(), 10, lambda: bare.log()[-2000:])
        info = requests.get(bare_url, auth=AUTH, timeout=5).json()
        assert info["state"] == "IN NETWORK TROUBLE" and info["escalated"] is False, info
        assert bare.psql("SELECT 1").returncode == 0
        # A key file that is not PEM stops the start-up with the parameter's name.
        (certs / "broken.key").write_text("not a key\n")
        broken = swiftpool({**common, "etcd_cert_file": str(certs / "client.pem"), "etcd_key_file": str(certs / "broken.key"),
                            "etcd_member_name": "broken"}, name="broken", start=False)
        broken.start(wait=False)
        assert broken.wait_exit(20) not in (None, 0), broken.log()[-2000:]
        assert "etcd_key_file" in broken.log(), broken.log()[-2000:]
    finally:
        os.killpg(etcd.pid, signal.SIGKILL)
        etcd.wait(10)
        shutil.rmtree(data, ignore_errors=True)


# --------------------------------------------------------------------------- compose variant

def test_docker_compose_accepts_the_etcd_variant(tmp_path):
    import shutil
    import subprocess

    import yaml

    from conftest import REPO_ROOT, swiftpool_binary
    if not shutil.which("docker-compose"):
        pytest.skip("docker-compose is missing (Debian's docker-compose package)")
    compose = REPO_ROOT / "compose"
    result = subprocess.run(["docker-compose", "--env-file", str(compose / ".env.example"), "-f", str(compose / "docker-compose.yml"),
                             "-f", str(compose / "docker-compose.etcd.yml"), "config"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"etcd-1", "etcd-2", "etcd-3", "swiftpool-1", "swiftpool-2", "swiftpool-3"} <= set(services)
    for i in (1, 2, 3):
        mounts = services[f"swiftpool-{i}"]["volumes"]
        text = " ".join(m if isinstance(m, str) else f"{m.get('source')}:{m.get('target')}" for m in mounts)
        assert f"pgpool-etcd-{i}.conf" in text and "pgpool-1.conf" not in text, mounts
        check = subprocess.run([str(swiftpool_binary()), "-f", str(compose / "swiftpool" / f"pgpool-etcd-{i}.conf"), "check"],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
