"""A small network lab for the watchdog tests: one Linux bridge in the root namespace and one
network namespace per host, joined to the bridge by a veth pair.

    lab = NetLab()                       # bridge swp-b<pid>, 10.231.N.1/24 on it
    try:
        m0 = lab.add_host("m0")          # namespace swp-<pid>-m0, eth0 = 10.231.N.10/24
        m0.run("ip", "addr")             # a command inside the namespace
        m0.prefix                        # ["ip", "netns", "exec", ns] for Popen
        m0.block_ports(tcp=[9000], udp=[9694])   # nftables inside m0: drop that traffic
        m0.unblock()
        m0.link_down()                   # as if the host had died
    finally:
        lab.close()                      # namespaces, veths, bridge; kills what still runs inside

Everything is named ``swp-...`` (interfaces ``swp<pid>...``), so leftovers of a run that was
killed are easy to spot; ``NetLab()`` removes the leftovers of runs whose process is gone.
Needs root, iproute2 and nftables: without them the constructor raises (no silent skip).
"""
from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from typing import Iterable

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"
SUBNET_PREFIX = "10.231"


def sh(*args: str, check: bool = True, timeout: float = 30, input: str | None = None
       ) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _namespaces() -> list[str]:
    out = sh(IP, "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_namespace_processes(ns: str) -> None:
    """SIGKILL whatever still runs in a namespace this lab made (only our own children live there)."""
    for _ in range(20):
        pids = [int(p) for p in sh(IP, "netns", "pids", ns, check=False).stdout.split() if p.isdigit()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove_stale() -> None:
    """Delete swp-<pid>-* namespaces and swp-b<pid> bridges of lab owners that no longer run."""
    for ns in _namespaces():
        m = re.fullmatch(r"swp-(\d+)-\w+", ns)
        if m and not _pid_alive(int(m.group(1))):
            _kill_namespace_processes(ns)
            sh(IP, "netns", "del", ns, check=False)
    links = sh(IP, "-o", "link", "show", check=False).stdout
    for name in re.findall(r"^\d+: (swp[-\w]*?)[@:]", links, re.M):
        m = re.fullmatch(r"swp-?b?(\d+)\w*", name)
        if m and not _pid_alive(int(m.group(1))):
            sh(IP, "link", "del", name, check=False)


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise AssertionError("the watchdog network tests need root (network namespaces, nftables)")
    for tool in (IP, NFT):
        if not os.path.exists(tool):
            raise AssertionError(f"{tool} is missing (scripts/install-deps.sh installs iproute2 and nftables)")


class Host:
    """One network namespace with eth0 on the lab bridge."""

    def __init__(self, lab: "NetLab", name: str, index: int):
        self.lab = lab
        self.name = name
        self.ns = f"swp-{lab.owner}-{name}"
        self.veth = f"swp{lab.owner}{name}"[:15]   # root-namespace end
        self.dev = "eth0"                             # namespace end
        self.ip = str(lab.network.network_address + index)

    @property
    def prefix(self) -> list[str]:
        """Prefix for a command to run inside the namespace (``ip netns exec`` execs it: the
        process id is the command's own)."""
        return [IP, "netns", "exec", self.ns]

    def run(self, *args: str, check: bool = True, timeout: float = 30, input: str | None = None
            ) -> subprocess.CompletedProcess:
        return sh(*self.prefix, *args, check=check, timeout=timeout, input=input)

    def create(self) -> None:
        sh(IP, "netns", "add", self.ns)
        self.lab._namespaces.append(self.ns)
        sh(IP, "link", "add", self.veth, "type", "veth", "peer", "name", self.dev, "netns", self.ns)
        sh(IP, "link", "set", self.veth, "master", self.lab.bridge)
        sh(IP, "link", "set", self.veth, "up")
        self.run(IP, "link", "set", "lo", "up")
        self.run(IP, "addr", "add", f"{self.ip}/{self.lab.network.prefixlen}", "dev", self.dev)
        self.run(IP, "link", "set", self.dev, "up")
        # Route everything through the bridge's address (only the lab's subnet is used anyway).
        self.run(IP, "route", "add", "default", "via", self.lab.gateway)

    def addresses(self) -> list[str]:
        """IPv4 addresses on eth0 (without prefix length)."""
        out = self.run(IP, "-4", "-o", "addr", "show", "dev", self.dev, check=False).stdout
        return re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)

    def link_down(self) -> None:
        """Both ends of the veth down: nothing goes in or out any more, like a dead host."""
        sh(IP, "link", "set", self.veth, "down", check=False)
        self.run(IP, "link", "set", self.dev, "down", check=False)

    def link_up(self) -> None:
        sh(IP, "link", "set", self.veth, "up")
        self.run(IP, "link", "set", self.dev, "up")
        self.run(IP, "route", "replace", "default", "via", self.lab.gateway, check=False)

    def block_ports(self, tcp: Iterable[int] = (), udp: Iterable[int] = ()) -> None:
        """nftables in this namespace drops TCP and UDP traffic to or from the given ports, both
        ways (table inet swp_partition); everything else still flows."""
        rules = []
        for proto, ports in (("tcp", list(tcp)), ("udp", list(udp))):
            if ports:
                ports_set = "{ " + ", ".join(str(p) for p in ports) + " }"
                rules += [f"{proto} dport {ports_set} drop", f"{proto} sport {ports_set} drop"]
        body = "\n".join(f"    {r}" for r in rules)
        script = ("table inet swp_partition {\n"
                  "  chain input {\n    type filter hook input priority -10; policy accept;\n"
                  f"{body}\n  }}\n"
                  "  chain output {\n    type filter hook output priority -10; policy accept;\n"
                  f"{body}\n  }}\n"
                  "}\n")
        self.run(NFT, "-f", "-", input=script)

    def unblock(self) -> None:
        self.run(NFT, "delete", "table", "inet", "swp_partition", check=False)

    def nft_ruleset(self) -> str:
        return self.run(NFT, "list", "ruleset", check=False).stdout

    def destroy(self) -> None:
        _kill_namespace_processes(self.ns)
        sh(IP, "netns", "del", self.ns, check=False)
        sh(IP, "link", "del", self.veth, check=False)
        if self.ns in self.lab._namespaces:
            self.lab._namespaces.remove(self.ns)


class NetLab:
    """A bridge with the first address of a free 10.231.N.0/24 and hosts at .10, .11, ..."""

    def __init__(self) -> None:
        check_prerequisites()
        remove_stale()
        self.owner = os.getpid()
        self.bridge = f"swp-b{self.owner}"[:15]
        self._namespaces: list[str] = []
        self.hosts: dict[str, Host] = {}
        self._next_index = 10
        self.network = self._free_network()
        self.gateway = str(self.network.network_address + 1)
        try:
            sh(IP, "link", "add", self.bridge, "type", "bridge")
            # Keep the root namespace's firewall (br_netfilter) out of bridged lab traffic.
            sh(IP, "link", "set", self.bridge, "type", "bridge", "nf_call_iptables", "0", check=False)
            sh(IP, "addr", "add", f"{self.gateway}/{self.network.prefixlen}", "dev", self.bridge)
            sh(IP, "link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _free_network() -> ipaddress.IPv4Network:
        used = sh(IP, "-4", "-o", "addr", "show", check=False).stdout
        routes = sh(IP, "-4", "route", "show", check=False).stdout
        start = os.getpid() % 200 + 20
        for k in range(250):
            third = (start + k) % 250 + 1
            prefix = f"{SUBNET_PREFIX}.{third}."
            if prefix not in used and prefix not in routes:
                return ipaddress.IPv4Network(f"{SUBNET_PREFIX}.{third}.0/24")
        raise AssertionError(f"no free {SUBNET_PREFIX}.N.0/24 for the network lab")

    def address(self, last_octet: int) -> str:
        return str(self.network.network_address + last_octet)

    def add_host(self, name: str) -> Host:
        if not re.fullmatch(r"[a-z0-9]{1,4}", name):
            raise ValueError("host names: 1-4 lowercase letters/digits (interface names are short)")
        if name in self.hosts:
            raise ValueError(f"host {name} exists")
        host = Host(self, name, self._next_index)
        self._next_index += 1
        self.hosts[name] = host
        try:
            host.create()
        except BaseException:
            host.destroy()
            del self.hosts[name]
            raise
        return host

    def remove_host(self, name: str) -> None:
        host = self.hosts.pop(name, None)
        if host is not None:
            host.destroy()

    def close(self) -> None:
        for name in list(self.hosts):
            self.remove_host(name)
        for ns in list(self._namespaces):
            _kill_namespace_processes(ns)
            sh(IP, "netns", "del", ns, check=False)
        self._namespaces.clear()
        sh(IP, "link", "del", self.bridge, check=False)

    def leftovers(self) -> list[str]:
        """Namespaces and links of this lab that still exist (empty after close())."""
        left = [ns for ns in _namespaces() if ns.startswith(f"swp-{self.owner}-")]
        links = sh(IP, "-o", "link", "show", check=False).stdout
        left += [n for n in re.findall(r"^\d+: ([^:@]+)", links, re.M)
                 if n == self.bridge or n.startswith(f"swp{self.owner}")]
        return left
