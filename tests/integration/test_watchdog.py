"""Watchdog: pairs and trios of SwiftPool processes elect one leader, take over when it dies, move
the virtual IP between network namespaces, survive a partition without split brain, agree on
backend failovers (or quarantine without quorum), share PCP detach/attach, refuse strangers and
garbage, and report all of it through pcp_watchdog_info, the HTTP API and /metrics.

Loopback tests give every member its own free ports on 127.0.0.1.  The VIP and partition tests
build network namespaces on a bridge (netlab.py) with a private PostgreSQL cluster listening on
the bridge address; they need root and fail (not skip) without it.
Timings: wd_heartbeat_keepalive 1 s, wd_heartbeat_deadtime 3 s."""
from __future__ import annotations

import concurrent.futures
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import psycopg
import pytest
import requests

from conftest import HOST, TEST_DB, USERS, SwiftPoolInstance, free_port, free_port_block, free_ports, port_open, session_ports, wait_for_port
from netlab import NetLab, Host
from private_cluster import PrivateCluster

PCP_USER, PCP_PASSWORD = "pcpadmin", "pcpadminpass"
AUTH = (PCP_USER, PCP_PASSWORD)
KEEPALIVE = 1
DEADTIME = 3
CONVERGE_TIMEOUT = 30
TIMING = {"wd_heartbeat_keepalive": KEEPALIVE, "wd_heartbeat_deadtime": DEADTIME,
          "wd_lifecheck_method": "heartbeat"}
HEALTH = {"health_check_period": 1, "health_check_timeout": 3, "health_check_max_retries": 1,
          "health_check_retry_delay": 1, "connect_timeout": 1000, "health_check_user": "repmgr",
          "health_check_password": ""}
READS = {"load_balance_mode": True, "statement_level_load_balance": False, "sr_check_period": 0,
         "backend_weight0": 0, "backend_weight1": 1, "backend_weight2": 1, "backend_weight3": 1}
STATE_NAMES = ["DEAD", "LOADING", "JOINING", "INITIALIZING", "LEADER", "PARTICIPATING IN ELECTION",
               "STANDING FOR LEADER", "STANDBY", "LOST", "IN NETWORK TROUBLE", "SHUTDOWN",
               "ADD MESSAGE SENT", "NETWORK ISOLATION"]
STATE_CODE = {name: code for code, name in enumerate(STATE_NAMES)}
AUTHKEY = "swp-watchdog-test-key"
# In namespaces every member has its own address, so they all use the same ports.
NS_PORTS = {"port": 9999, "pcp_port": 9898, "http_port": 9719, "wd_port": 9000, "heartbeat_port": 9694}


# --------------------------------------------------------------------------- small helpers

def wait_for(predicate: Callable[[], Any], timeout: float, message: Any = "", interval: float = 0.1) -> Any:
    """Poll until predicate() is truthy (returned); exceptions count as false.  AssertionError
    with `message` (or message()) and the last exception on timeout."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (AssertionError, OSError, requests.RequestException, psycopg.Error, ValueError, KeyError) as e:
            last_error = e
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s: {text}"
                                 + (f"\nlast error: {last_error!r}" if last_error else ""))
        time.sleep(interval)


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def marker_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if m and m.group(1) == name:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out.append((labels, float(m.group(3))))
    return out


def metric(text: str, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels`."""
    found = [v for l, v in metric_samples(text, name) if all(l.get(k) == v2 for k, v2 in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in /metrics:\n" + \
        "\n".join(l for l in text.splitlines() if name in l)
    return found[0]


def metric_sum(text: str, name: str, **labels: str) -> float:
    return sum(v for l, v in metric_samples(text, name) if all(l.get(k) == v2 for k, v2 in labels.items()))


def drop_backends(inst: SwiftPoolInstance, keep: int) -> None:
    """Comment out backend_*N lines for N >= keep (the demo configuration has four backends)."""
    lines = []
    for line in inst.conf_path.read_text().splitlines():
        m = re.match(r"^\s*backend_[a-z_]+?(\d+)\s*=", line)
        if m and int(m.group(1)) >= keep:
            line = "# (dropped by test_watchdog) " + line
        lines.append(line)
    inst.conf_path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- pcp_watchdog_info

NODE_LINE = re.compile(r"^(?P<name>.+) (?P<host>\S+) (?P<pgpool_port>\d+) (?P<wd_port>\d+) (?P<state>\d+) "
                       rf"(?P<state_name>{'|'.join(STATE_NAMES)}) (?P<membership>\d+) (?P<membership_name>\S+)$")


def parse_watchdog_info(text: str) -> dict[str, Any]:
    """Plain pcp_watchdog_info output -> {total, members, escalated, leader_name, leader_host, nodes}."""
    lines = text.rstrip("\n").split("\n")
    m = re.match(r"^(\d+) (\d+) (YES|NO) (.*)$", lines[0])
    assert m, f"unexpected first line of pcp_watchdog_info: {lines[0]!r}\n{text}"
    leader_name, _, leader_host = m.group(4).rpartition(" ")
    assert lines[1] == "", text
    nodes = []
    for line in lines[2:]:
        n = NODE_LINE.match(line)
        assert n, f"unexpected node line {line!r}\n{text}"
        d = n.groupdict()
        for k in ("pgpool_port", "wd_port", "state", "membership"):
            d[k] = int(d[k])
        nodes.append(d)
    return {"total": int(m.group(1)), "members": int(m.group(2)), "escalated": m.group(3) == "YES",
            "leader_name": leader_name, "leader_host": leader_host, "nodes": nodes}


def parse_watchdog_info_verbose(text: str) -> dict[str, Any]:
    assert "Watchdog Cluster Information" in text and "Watchdog Node Information" in text, text
    head, _, body = text.partition("Watchdog Node Information")
    cluster = dict((k.strip(), v.strip()) for k, v in re.findall(r"^([^:\n]+?)[ \t]*:[ \t]?(.*)$", head, re.M))
    nodes = []
    for block in re.split(r"\n\s*\n", body.strip()):
        entries = dict((k.strip(), v.strip()) for k, v in re.findall(r"^([^:\n]+?)[ \t]*:[ \t]?(.*)$", block, re.M))
        if entries:
            nodes.append(entries)
    return {"cluster": cluster, "nodes": nodes}


# --------------------------------------------------------------------------- members

@dataclass
class Member:
    inst: SwiftPoolInstance
    index: int                 # hostnameN index (4.2+ style); order of creation
    host: str                  # watchdog address
    wd_port: int
    heartbeat_port: int
    pgpool_port: int
    priority: int
    api_host: str = HOST       # where the test reaches its HTTP/PCP/SQL ports
    netns: Host | None = None
    marker_dir: Path | None = None

    @property
    def name(self) -> str:
        return self.inst.name

    @property
    def key(self) -> tuple[str, int]:
        return (self.host, self.wd_port)

    @property
    def http_port(self) -> int:
        return int(self.inst.params["http_port"])

    def url(self, path: str) -> str:
        return f"http://{self.api_host}:{self.http_port}{path}"

    def watchdog(self, timeout: float = 2) -> dict[str, Any]:
        r = requests.get(self.url("/api/v1/watchdog"), auth=AUTH, timeout=timeout)
        assert r.status_code == 200, (self.name, r.status_code, r.text)
        return r.json()

    def leader_probe(self, timeout: float = 2) -> requests.Response:
        return requests.get(self.url("/api/v1/watchdog/leader"), timeout=timeout)

    def metrics(self) -> str:
        r = requests.get(self.url("/metrics"), timeout=5)
        assert r.status_code == 200, r.text
        return r.text

    def node(self, node_id: int) -> dict[str, Any]:
        r = requests.get(self.url(f"/api/v1/nodes/{node_id}"), auth=AUTH, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def pcp(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        passfile = self.inst.dir / "pcppass"
        if not passfile.exists():
            passfile.write_text(f"*:*:{PCP_USER}:{PCP_PASSWORD}\n")
            os.chmod(passfile, 0o600)
        env = {"PATH": os.environ["PATH"], "PCPPASSFILE": str(passfile), "HOME": str(self.inst.dir)}
        result = subprocess.run([f"/usr/sbin/{program}", "-h", self.api_host, "-p", str(self.inst.pcp_port),
                                 "-U", PCP_USER, "-w", *args], env=env, capture_output=True, text=True, timeout=30)
        if check:
            assert result.returncode == 0 and "ERROR" not in result.stderr, \
                (self.name, program, args, result.stdout, result.stderr)
        return result

    def dsn(self, host: str | None = None, user: str = "app_readwrite", **extra: Any) -> str:
        return (f"host={host or self.api_host} port={self.pgpool_port} user={user} dbname={TEST_DB} "
                f"password={USERS[user]} " + " ".join(f"{k}={v}" for k, v in extra.items()))

    def connect(self, host: str | None = None, **kwargs: Any) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.dsn(host), **kwargs)

    def marker(self, kind: str) -> list[str]:
        assert self.marker_dir is not None
        return marker_lines(self.marker_dir / f"{kind}.log")

    def wait_ready(self, timeout: float = 20) -> None:
        wait_for_port(self.pgpool_port, timeout, self.inst.proc, self.inst.log_path, host=self.api_host)
        wait_for_port(self.http_port, timeout, self.inst.proc, self.inst.log_path, host=self.api_host)

    def start(self) -> None:
        self.inst.start(wait=False)
        self.wait_ready()

    def log(self) -> str:
        return self.inst.log()

    def __repr__(self) -> str:
        return f"<Member {self.name} {self.host}:{self.wd_port} prio={self.priority}>"


def leader_key(info: dict[str, Any]) -> tuple[str, int] | None:
    """(host, wd_port) of the leader a member reports (ids are local to each member)."""
    leader = info.get("leader")
    if not leader:
        return None
    for m in info["members"]:
        if m["id"] == leader["id"]:
            return (m["host"], int(m["wd_port"]))
    raise AssertionError(f"leader id {leader['id']} not among members: {info}")


def member_view(info: dict[str, Any], member: Member) -> dict[str, Any]:
    found = [m for m in info["members"] if (m["host"], int(m["wd_port"])) == member.key]
    assert len(found) == 1, f"{member} listed {len(found)} times in {info}"
    return found[0]


def describe(members: Iterable[Member]) -> str:
    out = []
    for m in members:
        try:
            info = m.watchdog()
            out.append(f"{m.name}: state={info.get('state')} leader={leader_key(info)} "
                       f"escalated={info.get('escalated')} quorum={info.get('quorum')} members="
                       + ", ".join(f"{x['host']}:{x['wd_port']}={x['state']}/alive={x['alive']}"
                                   for x in info.get("members", [])))
        except Exception as e:  # noqa: BLE001 - a description for a failure message
            out.append(f"{m.name}: unreachable ({e!r})")
        out.append("  log tail: " + "\n  ".join(m.log().splitlines()[-8:]))
    return "\n".join(out)


def converged(leader: Member, others: list[Member], escalated: bool = True) -> bool:
    """True when `leader` leads with quorum (escalated when asked) and every member of `others`
    is STANDBY following it, every one seeing all of them alive."""
    everyone = [leader, *others]
    infos = {m.name: m.watchdog() for m in everyone}
    li = infos[leader.name]
    if li["state"] != "LEADER" or li["quorum"]["status"] < 0 or leader_key(li) != leader.key:
        return False
    if escalated and not li["escalated"]:
        return False
    for o in others:
        oi = infos[o.name]
        if oi["state"] != "STANDBY" or leader_key(oi) != leader.key or oi["escalated"]:
            return False
    for m in everyone:
        for x in everyone:
            if not member_view(infos[m.name], x)["alive"]:
                return False
    return True


def wait_converged(leader: Member, others: list[Member], timeout: float = CONVERGE_TIMEOUT,
                   escalated: bool = True) -> float:
    t0 = time.monotonic()
    wait_for(lambda: converged(leader, others, escalated), timeout,
             lambda: f"{leader.name} leading {[o.name for o in others]}:\n{describe([leader, *others])}",
             interval=0.2)
    return time.monotonic() - t0


def marker_scripts(d: Path, dev: str | None) -> dict[str, str]:
    """Escalation and VIP commands that append '<epoch> <what>' to d/<kind>.log; with `dev`, the
    if_up/if_down scripts really add/remove the address on that device."""
    d.mkdir(parents=True, exist_ok=True)
    up_ip = f'/usr/sbin/ip addr add "$1/24" dev {dev} || exit 1\n' if dev else ""
    down_ip = f'/usr/sbin/ip addr del "$1/24" dev {dev} || exit 1\n' if dev else ""
    stamp = 'echo "$(date +%s.%N) $0 $*"'
    write_script(d / "escalate.sh", f'{stamp} >> "{d}/escalation.log"\n')
    write_script(d / "deescalate.sh", f'{stamp} >> "{d}/de_escalation.log"\n')
    write_script(d / "ifup.sh", f'{up_ip}{stamp} >> "{d}/if_up.log"\n')
    write_script(d / "ifdown.sh", f'{down_ip}{stamp} >> "{d}/if_down.log"\n')
    return {"wd_escalation_command": f"{d}/escalate.sh", "wd_de_escalation_command": f"{d}/deescalate.sh",
            "if_up_cmd": f"{d}/ifup.sh $_IP_$", "if_down_cmd": f"{d}/ifdown.sh $_IP_$"}


def first_stamp(lines: list[str]) -> float:
    return float(lines[0].split()[0])


def make_loopback_members(swiftpool, tmp_path: Path, priorities: list[int], style: str = "4.2",
                          common: dict[str, Any] | None = None,
                          per_member: list[dict[str, Any]] | None = None) -> list[Member]:
    """Members m0, m1, ... on 127.0.0.1 (not started).  style '4.2': the same watchdog block in
    every file (hostnameN/wd_portN/pgpool_portN/heartbeat_hostnameN/heartbeat_portN) plus a
    pgpool_node_id file; style 'pre-4.2': wd_hostname/wd_port/wd_heartbeat_port and
    other_pgpool_*/heartbeat_destination* per member."""
    n = len(priorities)
    pg_ports = free_ports(n)
    wd_ports = free_ports(n)
    hb_ports = free_ports(n, udp=True)
    used = set(pg_ports) | set(wd_ports) | set(hb_ports)
    pcp_ports = [p for p in free_ports(3 * n) if p not in used][:n]
    http_ports = [p for p in free_ports(4 * n) if p not in used and p not in pcp_ports][:n]
    shared: dict[str, Any] = {"use_watchdog": True, **TIMING, "wd_authkey": AUTHKEY, "log_min_messages": "info"}
    if style == "4.2":
        for i in range(n):
            shared.update({f"hostname{i}": HOST, f"wd_port{i}": wd_ports[i], f"pgpool_port{i}": pg_ports[i],
                           f"heartbeat_hostname{i}": HOST, f"heartbeat_port{i}": hb_ports[i]})
    shared.update(common or {})
    members = []
    for i in range(n):
        name = f"m{i}"
        d = tmp_path / name
        over = {**shared, "port": pg_ports[i], "pcp_port": pcp_ports[i], "http_port": http_ports[i],
                "http_listen_addresses": HOST, "wd_priority": priorities[i],
                "wd_ipc_socket_dir": str(d / "sock")}
        if style == "pre-4.2":
            over.update({"wd_hostname": HOST, "wd_port": wd_ports[i], "wd_heartbeat_port": hb_ports[i]})
            for k, j in enumerate(j for j in range(n) if j != i):
                over.update({f"other_pgpool_hostname{k}": HOST, f"other_pgpool_port{k}": pg_ports[j],
                             f"other_wd_port{k}": wd_ports[j], f"heartbeat_destination{k}": HOST,
                             f"heartbeat_destination_port{k}": hb_ports[j]})
        over.update(marker_scripts(tmp_path / f"{name}-markers", None))
        over.update((per_member or [{}] * n)[i])
        inst = swiftpool(over, name=name, start=False)
        if style == "4.2":
            (inst.dir / "pgpool_node_id").write_text(f"{i}\n")
        members.append(Member(inst, i, HOST, wd_ports[i], hb_ports[i], pg_ports[i], priorities[i],
                              marker_dir=tmp_path / f"{name}-markers"))
    return members


def start_all(members: list[Member]) -> None:
    """Start every member without waiting, then wait until each accepts SQL and HTTP."""
    for m in members:
        m.inst.start(wait=False)
    for m in members:
        m.wait_ready()


def check_watchdog_info_agrees(members: list[Member], leader: Member, style: str) -> None:
    """Stock pcp_watchdog_info (plain, -v, -n ID) on every member tells the same story."""
    names_by_key: dict[tuple[str, int], str] = {}
    for m in members:
        plain = parse_watchdog_info(m.pcp("pcp_watchdog_info").stdout)
        n = len(members)
        assert plain["total"] == n and plain["members"] == n, plain
        assert plain["escalated"] == (m is leader), (m.name, plain)
        assert len(plain["nodes"]) == n, plain
        local = plain["nodes"][0]
        assert (local["host"], local["wd_port"]) == m.key, f"local member not listed first on {m.name}: {plain}"
        assert local["pgpool_port"] == m.pgpool_port
        assert local["name"].startswith(f"{m.host}:{m.pgpool_port} Linux "), local
        for node in plain["nodes"]:
            key = (node["host"], node["wd_port"])
            want = leader if key == leader.key else next(x for x in members if x.key == key)
            assert node["pgpool_port"] == want.pgpool_port, node
            expected_state = "LEADER" if want is leader else "STANDBY"
            assert (node["state_name"], node["state"]) == (expected_state, STATE_CODE[expected_state]), \
                f"{m.name} says {node}"
            assert (node["membership"], node["membership_name"]) == (0, "MEMBER"), node
            # Every member names every node the same way.
            assert names_by_key.setdefault(key, node["name"]) == node["name"], (names_by_key, node)
        assert plain["leader_host"] == leader.host
        assert plain["leader_name"] == names_by_key[leader.key], plain

        verbose = parse_watchdog_info_verbose(m.pcp("pcp_watchdog_info", "-v").stdout)
        c = verbose["cluster"]
        assert c["Total Nodes"] == str(n) and c["Remote Nodes"] == str(n - 1), c
        assert c["Member Remote Nodes"] == str(n - 1) and c["Alive Remote Nodes"] == str(n - 1), c
        # Pgpool-II's NodesRequireForQuorum: votes needed, N/2 for an even N with half votes.
        half = m.inst.params.get("enable_consensus_with_half_votes", "off").lower() in ("on", "true", "1", "yes")
        required = n // 2 if half and n % 2 == 0 else n // 2 + 1
        assert c["Nodes required for quorum"] == str(required), c
        assert m.watchdog()["quorum"]["required"] == required
        assert c["Quorum state"] == "QUORUM EXIST", c
        assert c["Local node escalation"] == ("YES" if m is leader else "NO"), c
        assert c["Leader Node Name"] == names_by_key[leader.key] and c["Leader Host Name"] == leader.host, c
        assert len(verbose["nodes"]) == n, verbose
        for node in verbose["nodes"]:
            want = next(x for x in members if (x.host, x.wd_port) == (node["Host Name"], int(node["Watchdog port"])))
            assert int(node["Pgpool port"]) == want.pgpool_port, node
            assert int(node["Node priority"]) == want.priority, node
            assert node["Status Name"] == ("LEADER" if want is leader else "STANDBY"), node
            assert int(node["Status"]) == STATE_CODE[node["Status Name"]], node
            assert node["Membership Status"] == "MEMBER", node
            assert node["Delegate IP"] == m.inst.params.get("delegate_ip", ""), node

        # -n ID: one node.  4.2+ ids are the hostnameN index; pre-4.2: local 0, others 1..
        for other in members:
            if style == "4.2":
                node_id = other.index
            else:
                node_id = 0 if other is m else 1 + [x for x in members if x is not m].index(other)
            one = parse_watchdog_info(m.pcp("pcp_watchdog_info", "-n", str(node_id)).stdout)
            assert len(one["nodes"]) == 1, (m.name, node_id, one)
            assert (one["nodes"][0]["host"], one["nodes"][0]["wd_port"]) == other.key, (m.name, node_id, one)
            onev = parse_watchdog_info_verbose(m.pcp("pcp_watchdog_info", "-n", str(node_id), "-v").stdout)
            assert [int(x["Watchdog port"]) for x in onev["nodes"]] == [other.wd_port], onev
        bad = m.pcp("pcp_watchdog_info", "-n", "7", check=False)
        assert bad.returncode != 0 or "ERROR" in bad.stderr, (bad.stdout, bad.stderr)


# --------------------------------------------------------------------------- 1 + 8: election, PCP, HTTP, metrics

def test_pair_elects_the_higher_priority_and_reports_it_everywhere(swiftpool, tmp_path, cluster):
    # The lower priority starts first: it must still lose the election to the higher one.
    low, high = make_loopback_members(swiftpool, tmp_path, [1, 5], style="4.2",
                                      common={"delegate_ip": "192.0.2.77"})
    start_all([low, high])
    took = wait_converged(high, [low])
    print(f"pair converged {took:.1f} s after start")

    check_watchdog_info_agrees([low, high], high, "4.2")

    # HTTP
    hi, lo = high.watchdog(), low.watchdog()
    assert hi["enabled"] is True and hi["local_id"] == 1 and lo["local_id"] == 0, (hi, lo)
    assert (hi["state"], hi["state_code"]) == ("LEADER", 4) and (lo["state"], lo["state_code"]) == ("STANDBY", 7)
    for info in (hi, lo):
        assert info["quorum"] == {"status": 1, "text": "QUORUM EXIST", "members": 2, "alive": 2, "required": 2}, info
        assert info["delegate_ip"] == "192.0.2.77"
        assert info["leader"]["id"] == 1 and info["leader"]["host"] == HOST, info
        assert [m["local"] for m in info["members"]].count(True) == 1
        for m in info["members"]:
            assert m["membership"] == "MEMBER" and m["alive"] is True, m
            expected = "LEADER" if (m["host"], m["wd_port"]) == high.key else "STANDBY"
            assert (m["state"], m["state_code"]) == (expected, STATE_CODE[expected]), m
            assert m["priority"] == (5 if expected == "LEADER" else 1), m
            if m["local"]:
                assert "heartbeat_age_seconds" in m and m["heartbeat_age_seconds"] is None, \
                    f"the local member needs heartbeat_age_seconds: null (spec): {m}"
            else:
                assert 0 <= m["heartbeat_age_seconds"] <= DEADTIME, m
    assert hi["escalated"] is True and lo["escalated"] is False
    assert hi["elections"] >= 1 and hi["vip_changes"] >= 1, hi
    assert requests.get(high.url("/api/v1/watchdog"), timeout=5).status_code == 401, "watchdog state without auth"

    # Load-balancer probe: no authentication, 200 only on the leader.
    r_hi, r_lo = high.leader_probe(), low.leader_probe()
    assert r_hi.status_code == 200 and r_hi.json()["leader"] is True, (r_hi.status_code, r_hi.text)
    assert r_lo.status_code == 503 and r_lo.json()["leader"] is False, (r_lo.status_code, r_lo.text)

    # Escalation ran once, on the leader only.
    assert len(high.marker("escalation")) == 1 and len(high.marker("if_up")) == 1, \
        (high.marker("escalation"), high.marker("if_up"))
    assert "192.0.2.77" in high.marker("if_up")[0]
    assert low.marker("escalation") == [] and low.marker("if_up") == []
    assert "watchdog: this member is now the leader" in high.log()
    assert "watchdog: following leader" in low.log()

    # Metrics
    for m, is_leader in ((high, 1), (low, 0)):
        text = m.metrics()
        assert metric(text, "swiftpool_watchdog_enabled") == 1
        assert metric(text, "swiftpool_watchdog_is_leader") == is_leader
        assert metric(text, "swiftpool_watchdog_escalated") == is_leader
        assert metric(text, "swiftpool_watchdog_quorum_status") == 1
        assert metric(text, "swiftpool_watchdog_members") == 2
        assert metric(text, "swiftpool_watchdog_alive_members") == 2
        states = {l["wd_port"]: v for l, v in metric_samples(text, "swiftpool_watchdog_member_state")}
        assert states == {str(high.wd_port): 4.0, str(low.wd_port): 7.0}, states
        alive = metric_samples(text, "swiftpool_watchdog_member_alive")
        assert len(alive) in (1, 2) and all(v == 1 for _, v in alive), alive   # the local one is optional
        ages = metric_samples(text, "swiftpool_watchdog_heartbeat_age_seconds")
        assert len(ages) == 1 and 0 <= ages[0][1] <= DEADTIME, ages   # remote members only
        assert metric(text, "swiftpool_watchdog_elections_total") >= 1
        assert metric_sum(text, "swiftpool_watchdog_vip_changes_total", action="up") == is_leader
        assert metric_sum(text, "swiftpool_watchdog_vip_changes_total", action="down") == 0
        assert "# TYPE swiftpool_watchdog_messages_rejected_total counter" in text
        assert metric_sum(text, "swiftpool_watchdog_messages_rejected_total") == 0, \
            [l for l in text.splitlines() if "rejected" in l]
        assert "# TYPE swiftpool_watchdog_failover_requests_total counter" in text

    # SQL: the serving member's watchdog parameters.
    with high.connect() as conn:
        assert conn.execute("PGPOOL SHOW wd_priority").fetchone()[0] == "5"
    with low.connect() as conn:
        assert conn.execute("PGPOOL SHOW wd_priority").fetchone()[0] == "1"
        rows = conn.execute("PGPOOL SHOW watchdog").fetchall()
        assert any(r[0] == "wd_priority" for r in rows) and any(r[0] == "use_watchdog" for r in rows), rows


def test_watchdog_off_reports_disabled(swiftpool):
    proxy = swiftpool()
    base = f"http://127.0.0.1:{proxy.http_port}"
    r = requests.get(f"{base}/api/v1/watchdog", auth=AUTH, timeout=5)
    assert r.status_code == 200 and r.json() == {"enabled": False}, r.text
    assert requests.get(f"{base}/api/v1/watchdog/leader", timeout=5).status_code == 200
    text = requests.get(f"{base}/metrics", timeout=5).text
    series = sorted({l.split("{")[0].split()[0] for l in text.splitlines()
                     if l.startswith("swiftpool_watchdog_")})
    assert series == ["swiftpool_watchdog_enabled"], series
    assert metric(text, "swiftpool_watchdog_enabled") == 0


# --------------------------------------------------------------------------- 2: leader killed

def test_leader_killed_standby_takes_over_and_old_leader_rejoins_as_standby(swiftpool, tmp_path, cluster):
    # A pair needs enable_consensus_with_half_votes for the survivor to hold quorum (on the edge).
    survivor, leader = make_loopback_members(swiftpool, tmp_path, [1, 2], style="pre-4.2",
                                             common={"delegate_ip": "192.0.2.78",
                                                     "enable_consensus_with_half_votes": True})
    start_all([survivor, leader])
    wait_converged(leader, [survivor])
    check_watchdog_info_agrees([survivor, leader], leader, "pre-4.2")
    assert len(leader.marker("escalation")) == 1 and survivor.marker("escalation") == []

    # A client session on the survivor runs statements throughout.
    errors: list[str] = []
    done = threading.Event()
    count = 0

    def client() -> None:
        nonlocal count
        try:
            with survivor.connect() as conn:
                while not done.is_set():
                    assert conn.execute("SELECT 1").fetchone()[0] == 1
                    count += 1
                    time.sleep(0.1)
        except Exception as e:  # noqa: BLE001 - recorded, asserted below
            errors.append(repr(e))

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        killed_at = time.time()
        leader.inst.kill()           # SIGKILL: no goodbye
        wait_for(lambda: survivor.marker("escalation") and survivor.marker("if_up"), DEADTIME + 10,
                 lambda: describe([survivor]))
        escalated_after = first_stamp(survivor.marker("escalation")) - killed_at
        if_up_after = first_stamp(survivor.marker("if_up")) - killed_at
        # The dead time governs the takeover; the bound leaves room for a loaded machine to spawn
        # the scripts (bench/watchdog.py measures the takeover itself).
        print(f"leader killed: escalation after {escalated_after:.2f} s, if_up after {if_up_after:.2f} s "
              f"(bound {DEADTIME + 4} s)")
        assert escalated_after <= DEADTIME + 4 and if_up_after <= DEADTIME + 4
        assert "192.0.2.78" in survivor.marker("if_up")[0]
        info = survivor.watchdog()
        assert info["state"] == "LEADER" and info["escalated"] is True, info
        assert member_view(info, leader)["alive"] is False, info
        assert member_view(info, leader)["state"] in ("LOST", "DEAD", "SHUTDOWN"), info
        assert re.search(r"watchdog: member .* is lost", survivor.log()), survivor.log()[-3000:]
        assert info["quorum"]["status"] == 0 and info["quorum"]["text"] == "QUORUM IS ON THE EDGE", info
        assert survivor.leader_probe().status_code == 200

        # The old leader comes back: it must join as a standby and never take the lead back.
        leader.start()
        wait_converged(survivor, [leader])
        flaps = []
        t_end = time.monotonic() + 3 * DEADTIME
        samples = 0
        while time.monotonic() < t_end:
            a, b = survivor.watchdog(), leader.watchdog()
            samples += 1
            if a["state"] != "LEADER" or not a["escalated"] or b["state"] != "STANDBY" or b["escalated"]:
                flaps.append((round(time.monotonic(), 2), a["state"], a["escalated"], b["state"], b["escalated"]))
            time.sleep(0.2)
        assert samples > 20 and not flaps, flaps
        assert len(leader.marker("escalation")) == 1, "the restarted member escalated again"
        assert len(survivor.marker("escalation")) == 1, survivor.marker("escalation")
    finally:
        done.set()
        thread.join(10)
    assert not errors, f"the survivor's client session failed: {errors}"
    assert count > 30, count
    with survivor.connect() as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


# --------------------------------------------------------------------------- 5: failover consensus / quarantine

@pytest.fixture
def loopback_pg():
    base = free_port_block(3)
    pc = PrivateCluster(Path(f"/tmp/swp-wd-pg-{os.getpid()}-{base}"), base_port=base, standbys=2)
    try:
        pc.up()
        yield pc
    finally:
        pc.run("down", "--purge", check=False)
        Path(f"{pc.dir}.lock").unlink(missing_ok=True)


def private_backends(pc: PrivateCluster, host: str) -> dict[str, Any]:
    over: dict[str, Any] = {}
    for i in pc.nodes:
        over.update({f"backend_hostname{i}": host, f"backend_port{i}": pc.node_port(i),
                     f"backend_data_directory{i}": str(pc.node_dir(i)), f"backend_weight{i}": 0 if i == 0 else 1,
                     f"backend_application_name{i}": f"node{i}", f"backend_flag{i}": "ALLOW_TO_FAILOVER"})
    return over


def node_status_everywhere(m: Member, node_id: int) -> tuple[str, str, str]:
    """Status of a backend node as SHOW POOL_NODES, pcp_node_info -v and the HTTP API say."""
    with m.connect() as conn:
        cur = conn.execute("SHOW POOL_NODES")
        cols = [c.name for c in cur.description]
        row = next(r for r in cur.fetchall() if r[cols.index("node_id")] == str(node_id))
        show = row[cols.index("status")]
    pcp = m.pcp("pcp_node_info", "-n", str(node_id), "-v").stdout
    found = re.search(r"^Status Name\s*:\s*(\S+)$", pcp, re.M)
    assert found, pcp
    return show, found.group(1), m.node(node_id)["status"]


def start_failover_pair(swiftpool, tmp_path: Path, pc: PrivateCluster) -> tuple[Member, Member, Path]:
    """A pair over a private cluster; each member's failover_command appends '<member> node=<id>'
    to one shared file.  Returns (leader, standby, file)."""
    shared_file = tmp_path / "failover_runs.log"
    script = write_script(tmp_path / "failover.sh", f'echo "$1 node=$2" >> "{shared_file}"\n')
    common = {**HEALTH, **private_backends(pc, HOST), "sr_check_period": 0, "load_balance_mode": False,
              "failover_when_quorum_exists": True, "failover_require_consensus": True,
              "enable_consensus_with_half_votes": False, "allow_multiple_failover_requests_from_node": False}
    per = [{"failover_command": f"{script} m{i} %d"} for i in range(2)]
    leader, standby = make_loopback_members(swiftpool, tmp_path, [3, 1], style="4.2", common=common, per_member=per)
    for m in (leader, standby):
        drop_backends(m.inst, len(pc.nodes))
    start_all([leader, standby])
    wait_converged(leader, [standby])
    for m in (leader, standby):
        wait_for(lambda: all(m.node(i)["status"] in ("up", "waiting") for i in pc.nodes), 20,
                 lambda: [m.node(i) for i in pc.nodes])
    return leader, standby, shared_file


def test_backend_failover_is_agreed_and_run_once(swiftpool, tmp_path, loopback_pg):
    pc = loopback_pg
    leader, standby, shared_file = start_failover_pair(swiftpool, tmp_path, pc)
    # A standby PostgreSQL dies: both members see it, the leader fails it over once.
    pc.stop_node(2, immediate=True)
    for m in (leader, standby):
        wait_for(lambda: node_status_everywhere(m, 2) == ("down", "down", "down"), 30,
                 lambda: (m.name, node_status_everywhere(m, 2), m.log()[-2000:]))
    time.sleep(DEADTIME + 2)    # room for a second (wrong) run
    runs = marker_lines(shared_file)
    assert len(runs) == 1, f"failover_command ran {len(runs)} times: {runs}"
    assert runs[0] == "m0 node=2", f"failover_command ran on the standby member, not the leader: {runs}"
    assert metric_sum(leader.metrics(), "swiftpool_watchdog_failover_requests_total", result="applied") >= 1
    for m in (leader, standby):
        assert node_status_everywhere(m, 2) == ("down", "down", "down")
        assert node_status_everywhere(m, 1)[2] in ("up", "waiting")


def test_backend_is_quarantined_without_quorum(swiftpool, tmp_path, loopback_pg):
    pc = loopback_pg
    leader, standby, shared_file = start_failover_pair(swiftpool, tmp_path, pc)
    # No quorum: the standby member leaves (clean stop), the pair has 1 of 2 alive.
    assert standby.inst.stop() == 0, standby.log()[-2000:]
    wait_for(lambda: leader.watchdog()["quorum"]["status"] == -1, DEADTIME + 10, lambda: describe([leader]))
    info = leader.watchdog()
    assert info["quorum"]["text"] == "QUORUM ABSENT" and info["escalated"] is False, info
    assert leader.leader_probe().status_code == 503
    assert leader.marker("de_escalation"), "the leader kept its escalation without quorum"
    pc.stop_node(1, immediate=True)
    wait_for(lambda: node_status_everywhere(leader, 1) == ("quarantine", "quarantine", "quarantine"), 30,
             lambda: (node_status_everywhere(leader, 1), leader.log()[-2000:]))
    time.sleep(3)
    assert node_status_everywhere(leader, 1) == ("quarantine", "quarantine", "quarantine")
    assert marker_lines(shared_file) == [], "failover_command ran without quorum"
    assert metric_sum(leader.metrics(), "swiftpool_watchdog_failover_requests_total", result="quarantined") >= 1
    assert metric_sum(leader.metrics(), "swiftpool_watchdog_failover_requests_total", result="applied") == 0
    # Quarantine ends by itself once the node answers health checks again.
    pc.start_node(1)
    wait_for(lambda: node_status_everywhere(leader, 1)[2] in ("up", "waiting"), 30,
             lambda: (node_status_everywhere(leader, 1), leader.log()[-2000:]))
    assert marker_lines(shared_file) == []


# --------------------------------------------------------------------------- 6: detach through PCP on the standby

def test_pcp_detach_and_attach_on_the_standby_apply_to_both_members(swiftpool, tmp_path, cluster):
    standby, leader = make_loopback_members(swiftpool, tmp_path, [1, 2], style="4.2", common=READS)
    start_all([standby, leader])
    wait_converged(leader, [standby])
    node3 = cluster.node_port(3)
    for m in (standby, leader):
        assert node3 in session_ports(m.inst, 40), f"{m.name} sends no reads to node 3 before the detach"

    standby.pcp("pcp_detach_node", "-n", "3")
    for m in (standby, leader):
        wait_for(lambda: m.node(3)["status"] == "down", 10, lambda: (m.name, m.node(3)))
        assert re.search(r"^Status Name\s*:\s*down$", m.pcp("pcp_node_info", "-n", "3", "-v").stdout, re.M)
        before = {int(r["port"]): int(r["select_cnt"]) for r in pool_nodes(m)}
        ports = session_ports(m.inst, 40)
        after = {int(r["port"]): int(r["select_cnt"]) for r in pool_nodes(m)}
        assert node3 not in ports, f"{m.name} still reads from node 3: {ports}"
        assert after[node3] == before[node3], (m.name, before, after)
    again = leader.pcp("pcp_detach_node", "-n", "3", check=False)
    assert "already down" in again.stderr, again.stderr

    standby.pcp("pcp_attach_node", "-n", "3")
    for m in (standby, leader):
        wait_for(lambda: m.node(3)["status"] in ("up", "waiting"), 10, lambda: (m.name, m.node(3)))
        wait_for(lambda: node3 in session_ports(m.inst, 20), 20, f"{m.name}: node 3 gets no reads after attach")



def test_cluster_wide_reload_reaches_every_member(swiftpool, tmp_path, cluster):
    standby, leader = make_loopback_members(swiftpool, tmp_path, [1, 2], style="4.2", common=READS)
    start_all([standby, leader])
    wait_converged(leader, [standby])
    for m in (standby, leader):
        with open(m.inst.conf_path, "a") as f:
            f.write("\nbackend_weight3 = 0\n")
    # A local reload changes only the member asked.
    standby.pcp("pcp_reload_config", "-s", "l")
    wait_for(lambda: cluster.node_port(3) not in session_ports(standby.inst, 30), 10, "standby kept reading node 3")
    assert cluster.node_port(3) in session_ports(leader.inst, 40), "a local reload changed the other member"
    # -s c: every member reloads its own files.
    standby.pcp("pcp_reload_config", "-s", "c")
    wait_for(lambda: "asked every member to reload" in leader.log(), 10, lambda: leader.log()[-2000:])
    wait_for(lambda: cluster.node_port(3) not in session_ports(leader.inst, 30), 10, "the leader kept reading node 3")

def pool_nodes(m: Member) -> list[dict[str, str]]:
    with m.connect() as conn:
        cur = conn.execute("SHOW POOL_NODES")
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


# --------------------------------------------------------------------------- 7: strangers and garbage

def test_wrong_authkey_and_garbage_are_rejected_without_disturbing_the_cluster(swiftpool, tmp_path, cluster):
    per = [{}, {}, {"wd_authkey": "not-the-same-key"}]
    leader, standby, stranger = make_loopback_members(swiftpool, tmp_path, [3, 2, 1], style="4.2",
                                                      per_member=per, common={"delegate_ip": "192.0.2.79"})
    start_all([leader, standby, stranger])
    wait_converged(leader, [standby])
    for m in (leader, standby):
        wait_for(lambda: "authentication failed" in m.log(), DEADTIME + 5,
                 lambda: f"{m.name} does not log the stranger's authentication failure:\n{m.log()[-3000:]}")
        line = next(l for l in m.log().splitlines() if "authentication failed" in l)
        assert "watchdog" in line and "rejected" in line and "wd_authkey" in line, line
        info = m.watchdog()
        assert member_view(info, stranger)["alive"] is False, info
        assert info["quorum"]["alive"] == 2 and info["quorum"]["members"] == 3, info
        assert metric_sum(m.metrics(), "swiftpool_watchdog_messages_rejected_total",
                          reason="authentication") >= 1
    s = stranger.watchdog()
    assert s["escalated"] is False and s["quorum"]["status"] < 0, s
    assert stranger.leader_probe().status_code == 503
    assert stranger.marker("escalation") == [] and stranger.marker("if_up") == []

    # Garbage on the leader's watchdog TCP port and heartbeat UDP port.
    before = leader.metrics()
    lost_lines_before = leader.log().count("is lost") + standby.log().count("is lost")
    rnd = random.Random(7)
    payloads = [bytes(rnd.randrange(256) for _ in range(200)) for _ in range(5)]
    payloads += [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 16, b"\xff" * 8 + b"x" * 100 * 1024]
    for p in payloads:
        with socket.create_connection((HOST, leader.wd_port), timeout=5) as s:
            try:
                s.sendall(p)
                s.shutdown(socket.SHUT_WR)
                s.settimeout(3)
                while s.recv(4096):
                    pass
            except OSError:
                pass   # the member may reset the connection; that is fine
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for _ in range(20):
            u.sendto(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))), (HOST, leader.heartbeat_port))
        u.sendto(b"\x01" * 2000, (HOST, leader.heartbeat_port))      # over the 1 KiB limit
        u.sendto(b"", (HOST, leader.heartbeat_port))

    # Nothing changes for a while longer than the dead time.
    t_end = time.monotonic() + DEADTIME + 2
    while time.monotonic() < t_end:
        assert converged(leader, [standby]), describe([leader, standby])
        time.sleep(0.3)
    assert leader.log().count("is lost") + standby.log().count("is lost") == lost_lines_before
    after = leader.metrics()
    name = "swiftpool_watchdog_messages_rejected_total"
    assert metric_sum(after, name, port="watchdog") >= metric_sum(before, name, port="watchdog") + len(payloads) - 1, \
        [l for l in after.splitlines() if name in l]
    assert metric_sum(after, name, port="heartbeat") >= metric_sum(before, name, port="heartbeat") + 20, \
        [l for l in after.splitlines() if name in l]
    assert metric_sum(after, name, port="heartbeat", reason="oversized") >= \
        metric_sum(before, name, port="heartbeat", reason="oversized") + 1
    assert len(leader.marker("escalation")) == 1, leader.marker("escalation")
    assert leader.inst.is_running() and standby.inst.is_running()


class UdpRelay:
    """Forwards datagrams from a local port to `target`, keeping a copy of each."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not self.stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.seen.append(data)
            out.sendto(data, self.target)
        out.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_replayed_heartbeat_is_rejected(swiftpool, tmp_path, cluster):
    """m1 reaches m0's heartbeat port through a relay that keeps copies; a copy sent again later
    is a replay: dropped and counted, and m0 still hears m1's fresh heartbeats."""
    hb0 = free_ports(1, udp=True)[0]
    relay = UdpRelay((HOST, hb0))
    try:
        per = [{"heartbeat_port0": hb0}, {"heartbeat_port0": relay.port}]
        m0, m1 = make_loopback_members(swiftpool, tmp_path, [2, 1], style="4.2", per_member=per)
        m0.heartbeat_port = hb0
        start_all([m0, m1])
        wait_converged(m0, [m1])
        wait_for(lambda: len(relay.seen) >= 2, 10, "no heartbeats went through the relay")
        name = "swiftpool_watchdog_messages_rejected_total"
        before = m0.metrics()
        old = relay.seen[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(3):
                u.sendto(old, (HOST, hb0))
        wait_for(lambda: metric_sum(m0.metrics(), name, port="heartbeat", reason="replay")
                 >= metric_sum(before, name, port="heartbeat", reason="replay") + 3, 5,
                 lambda: [l for l in m0.metrics().splitlines() if name in l])
        assert metric_sum(m0.metrics(), name, reason="authentication") == 0
        time.sleep(DEADTIME + 1)
        assert converged(m0, [m1]), describe([m0, m1])
        assert member_view(m0.watchdog(), m1)["heartbeat_age_seconds"] < DEADTIME
    finally:
        relay.close()


# --------------------------------------------------------------------------- namespaces: VIP and partition

@dataclass
class Lab:
    net: NetLab
    pg: PrivateCluster
    vip: str
    used: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def lab():
    """A bridge with a private two-node PostgreSQL cluster listening on its address."""
    net = NetLab()
    pc = None
    try:
        base = free_port_block(2)
        pc = PrivateCluster(Path(f"/tmp/swp-wd-pg-{os.getpid()}-{base}"), base_port=base, standbys=1)
        extra = {"PG_LISTEN_ADDRESSES": net.gateway, "PG_HBA_NETWORKS": str(net.network)}
        saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        try:
            pc.up()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        yield Lab(net, pc, net.address(100))
    finally:
        if pc is not None:
            pc.run("down", "--purge", check=False)
            Path(f"{pc.dir}.lock").unlink(missing_ok=True)
        net.close()
        left = net.leftovers()
        assert not left, f"network lab left behind: {left}"


NS_HBA = ("local all all scram-sha-256\n"
          "host all all 127.0.0.1/32 scram-sha-256\n"
          "host all all 10.231.0.0/16 scram-sha-256\n")


def make_ns_members(swiftpool, tmp_path: Path, lab: Lab, names: list[str], priorities: list[int],
                    common: dict[str, Any] | None = None) -> list[Member]:
    """One member per namespace, one shared 4.2+ watchdog block, the VIP on eth0."""
    hosts = [lab.net.add_host(n) for n in names]
    shared: dict[str, Any] = {"use_watchdog": True, **TIMING, "wd_authkey": AUTHKEY, "log_min_messages": "info",
                              "delegate_ip": lab.vip, **private_backends(lab.pg, lab.net.gateway),
                              "sr_check_period": 0, "health_check_period": 0, "load_balance_mode": False,
                              "listen_addresses": "*", "pcp_listen_addresses": "*", "http_listen_addresses": "*",
                              "port": NS_PORTS["port"], "pcp_port": NS_PORTS["pcp_port"],
                              "http_port": NS_PORTS["http_port"],
                              "arping_cmd": "/usr/bin/arping -U $_IP_$ -c 1 -w 1 -I eth0"}
    for i, h in enumerate(hosts):
        shared.update({f"hostname{i}": h.ip, f"wd_port{i}": NS_PORTS["wd_port"], f"pgpool_port{i}": NS_PORTS["port"],
                       f"heartbeat_hostname{i}": h.ip, f"heartbeat_port{i}": NS_PORTS["heartbeat_port"]})
    shared.update(common or {})
    members = []
    for i, (name, h) in enumerate(zip(names, hosts)):
        d = tmp_path / name
        over = {**shared, "wd_priority": priorities[i], "wd_ipc_socket_dir": str(d / "sock"),
                **marker_scripts(tmp_path / f"{name}-markers", h.dev)}
        inst = swiftpool(over, name=name, start=False, pool_hba=NS_HBA)
        drop_backends(inst, len(lab.pg.nodes))
        (inst.dir / "pgpool_node_id").write_text(f"{i}\n")
        inst.cmd = h.prefix + inst.cmd
        members.append(Member(inst, i, h.ip, NS_PORTS["wd_port"], NS_PORTS["heartbeat_port"], NS_PORTS["port"],
                              priorities[i], api_host=h.ip, netns=h, marker_dir=tmp_path / f"{name}-markers"))
    return members


def stop_ns_members(lab: Lab, members: list[Member]) -> None:
    """Stop the members (SIGTERM, then SIGKILL) before their namespaces go away."""
    for m in members:
        if m.inst.is_running():
            if m.inst.stop(timeout=15) is None:
                m.inst.kill()
    for m in members:
        lab.net.remove_host(m.netns.name)


def vip_holders(members: list[Member], vip: str) -> list[str]:
    return [m.name for m in members if vip in m.netns.addresses()]


def stamped_before(lines: list[str], t: float) -> list[str]:
    """Marker lines written before wall-clock time t."""
    return [line for line in lines if float(line.split()[0]) < t]


def served_by(vip: str, port: int, timeout: float = 3) -> str:
    """wd_priority of the member that answers a new session on vip:port."""
    with psycopg.connect(f"host={vip} port={port} user=app_readwrite password={USERS['app_readwrite']} "
                         f"dbname={TEST_DB}", connect_timeout=timeout, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1
        return conn.execute("PGPOOL SHOW wd_priority").fetchone()[0]


def test_vip_moves_between_namespaces(swiftpool, tmp_path, lab):
    a, b = make_ns_members(swiftpool, tmp_path, lab, ["va", "vb"], [2, 1],
                           common={"enable_consensus_with_half_votes": True})
    members = [a, b]
    try:
        start_all(members)
        wait_converged(a, [b])
        wait_for(lambda: vip_holders(members, lab.vip) == ["va"], 10, lambda: vip_holders(members, lab.vip))
        assert served_by(lab.vip, NS_PORTS["port"]) == "2"

        # Clean stop of the leader: if_down_cmd releases the VIP, the standby takes it.
        stopped_at = time.time()
        assert a.inst.stop() == 0, a.log()[-2000:]
        assert a.marker("if_down") and a.marker("de_escalation"), (a.marker("if_down"), a.marker("de_escalation"))
        assert lab.vip not in a.netns.addresses(), "the stopped leader kept the VIP"
        wait_for(lambda: vip_holders(members, lab.vip) == ["vb"], DEADTIME + 10, lambda: describe([b]))
        wait_for(lambda: served_by(lab.vip, NS_PORTS["port"], 1) == "1", 15, "no session through the VIP on vb")
        print(f"clean stop: VIP served by the standby {time.time() - stopped_at:.2f} s after SIGTERM")
        assert b.marker("escalation") and b.marker("if_up")

        # The old leader returns as a standby; the VIP stays where it is.
        a.start()
        wait_converged(b, [a])
        assert vip_holders(members, lab.vip) == ["vb"]
        assert served_by(lab.vip, NS_PORTS["port"]) == "1"

        # The new leader's host dies: kill -9 and its link goes down.
        killed_at = time.time()
        b.inst.kill()
        b.netns.link_down()
        wait_for(lambda: lab.vip in a.netns.addresses(), DEADTIME + 10, lambda: describe([a]))
        vip_up = time.time() - killed_at
        wait_for(lambda: served_by(lab.vip, NS_PORTS["port"], 1) == "2", 20, "no session through the VIP on va")
        served = time.time() - killed_at
        print(f"kill -9 + link down: VIP up on va after {vip_up:.2f} s, a client served after {served:.2f} s "
              f"(dead time {DEADTIME} s)")
        assert vip_up <= DEADTIME + 4
        assert served <= DEADTIME + 7
        assert a.watchdog()["state"] == "LEADER"
    finally:
        stop_ns_members(lab, members)


def test_partitioned_member_never_escalates_and_rejoins(swiftpool, tmp_path, lab):
    p0, p1, p2 = make_ns_members(swiftpool, tmp_path, lab, ["pa", "pb", "pc"], [3, 2, 1])
    members = [p0, p1, p2]
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def sample_one(m: Member) -> dict[str, Any] | None:
        try:
            return m.watchdog(timeout=1)
        except Exception:  # noqa: BLE001 - a missing sample is recorded as None
            return None

    def vip_on(m: Member) -> bool:
        return lab.vip in m.netns.addresses()

    def sampler() -> None:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            while not stop.is_set():
                t = time.monotonic()
                infos = pool.map(sample_one, members)
                vips = pool.map(vip_on, members)
                samples.append({"t": t, **{m.name: i for m, i in zip(members, infos)},
                                "vip": [m.name for m, v in zip(members, vips) if v]})
                time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))

    thread = threading.Thread(target=sampler, daemon=True)
    try:
        start_all(members)
        # Who wins the first election depends on who starts first; the test follows the winner.
        p0 = wait_for(lambda: next((m for m in members if (i := sample_one(m)) and i["state"] == "LEADER"), None),
                      CONVERGE_TIMEOUT, lambda: describe(members))
        p1, p2 = [m for m in members if m is not p0]
        wait_converged(p0, [p1, p2])
        thread.start()
        time.sleep(1)
        partition_at = time.monotonic()
        p1.netns.block_ports(tcp=[NS_PORTS["wd_port"]], udp=[NS_PORTS["heartbeat_port"]])
        # p0 and p2 lose p1, p1 loses both; p0 keeps leading with 2 of 3.
        wait_for(lambda: not member_view(p0.watchdog(), p1)["alive"] and not member_view(p2.watchdog(), p1)["alive"],
                 DEADTIME + 10, lambda: describe(members))
        time.sleep(2 * DEADTIME)
        p1_info = p1.watchdog()
        assert p1_info["escalated"] is False and p1_info["quorum"]["status"] < 0, p1_info
        assert p1.leader_probe().status_code == 503
        assert converged(p0, [p2]), describe(members)
        heal_at = time.monotonic()
        p1.netns.unblock()
        took = wait_converged(p0, [p1, p2])
        print(f"partition healed: converged again after {took:.1f} s")
        time.sleep(2)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(10)
        partitioned = [s for s in samples if s["t"] >= partition_at] if "partition_at" in locals() else []
        stopping_at = time.time()     # what members do while the test stops them is not judged
        stop_ns_members(lab, members)

    # Dense enough to catch two leaders at once: at least two samples a second over the window.
    window = partitioned[-1]["t"] - partitioned[0]["t"] if partitioned else 0
    assert len(partitioned) >= max(10, 2 * window), f"only {len(partitioned)} samples in {window:.1f} s"
    missing = sum(1 for s in partitioned for m in members if s[m.name] is None)
    assert missing <= len(partitioned) * 3 // 10, f"{missing} samples unanswered"
    double = [(round(s["t"] - partition_at, 2), [m.name for m in members if s[m.name] and s[m.name]["escalated"]])
              for s in partitioned
              if sum(1 for m in members if s[m.name] and s[m.name]["escalated"]) > 1]
    assert not double, f"two members escalated at once: {double[:10]}"
    p1_escalated = [round(s["t"] - partition_at, 2) for s in partitioned if s[p1.name] and s[p1.name]["escalated"]]
    assert not p1_escalated, f"the isolated member escalated at {p1_escalated[:10]}"
    p0_not_leading = [(round(s["t"] - partition_at, 2), s[p0.name]["state"]) for s in partitioned
                      if s[p0.name] and (s[p0.name]["state"] != "LEADER" or not s[p0.name]["escalated"])]
    assert not p0_not_leading, f"the majority's leader wavered: {p0_not_leading[:10]}"
    p2_leading = [round(s["t"] - partition_at, 2) for s in partitioned if s[p2.name] and s[p2.name]["state"] == "LEADER"]
    assert not p2_leading, f"a second leader in the majority at {p2_leading[:10]}"
    two_vips = [(round(s["t"] - partition_at, 2), s["vip"]) for s in partitioned if len(s["vip"]) > 1]
    assert not two_vips, f"the VIP was on two members at once: {two_vips[:10]}"
    assert not [s for s in partitioned if s["vip"] and s["vip"] != [p0.name]], "the VIP left the leader"
    p1_markers = stamped_before(p1.marker("escalation") + p1.marker("if_up"), stopping_at)
    assert not p1_markers, f"the isolated member ran its escalation commands: {p1_markers}\n{p1.log()[-3000:]}"
    assert len(stamped_before(p0.marker("escalation"), stopping_at)) == 1
    assert stamped_before(p2.marker("escalation"), stopping_at) == []
    print(f"{len(partitioned)} samples over {samples[-1]['t'] - partition_at:.1f} s "
          f"(partition {heal_at - partition_at:.1f} s)")
