"""The lab network: bridge lab0 on 198.18.0.1/24, one netns and veth per host.

No default route, no NAT, no forwarding: lab hosts reach the bridge address
(DNS, package repository, this machine) and each other, nothing else.
"""
from pathlib import Path

from . import config
from .run import LabError, sh


FORWARDING_SWITCHES = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")


def refuse_forwarding(switches=FORWARDING_SWITCHES):
    for path in switches:
        value = Path(path).read_text().strip() if Path(path).exists() else "0"
        if value != "0":
            raise LabError(f"{path} is {value}: the lab refuses to run on a machine that forwards IP packets")


def _link_exists(name):
    return sh(["ip", "link", "show", name], check=False, quiet=True).returncode == 0


def bridge_up():
    if not _link_exists(config.BRIDGE):
        sh(["ip", "link", "add", config.BRIDGE, "type", "bridge"])
        sh(["ip", "addr", "add", f"{config.BRIDGE_ADDRESS}/{config.LAB_NET.prefixlen}", "dev", config.BRIDGE])
    sh(["ip", "link", "set", config.BRIDGE, "up"])


def bridge_down():
    if _link_exists(config.BRIDGE):
        sh(["ip", "link", "del", config.BRIDGE])


def host_up(host):
    host_down(host)
    sh(["ip", "netns", "add", host.netns])
    sh(["ip", "link", "add", host.veth, "type", "veth",
        "peer", "name", "eth0", "address", host.mac, "netns", host.netns])
    sh(["ip", "link", "set", host.veth, "master", config.BRIDGE, "up"])
    sh(["ip", "-n", host.netns, "link", "set", "lo", "up"])
    sh(["ip", "-n", host.netns, "addr", "add", f"{host.address}/{config.LAB_NET.prefixlen}", "dev", "eth0"])
    sh(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
    # A neighbour entry left by an earlier host with this address would make
    # the first connections hang until it expires.
    sh(["ip", "neigh", "flush", "to", host.address, "dev", config.BRIDGE], check=False, quiet=True)


def host_down(host):
    if _link_exists(host.veth):
        sh(["ip", "link", "del", host.veth])
    if Path("/run/netns", host.netns).exists():
        sh(["ip", "netns", "del", host.netns])


def leftover_netns():
    listing = sh(["ip", "netns", "list"], capture=True).stdout.split("\n")
    return sorted({line.split()[0] for line in listing if line.startswith(config.NETNS_PREFIX)})


def leftover_veths():
    listing = sh(["ip", "-o", "link", "show"], capture=True).stdout.split("\n")
    names = (line.split(":")[1].strip().split("@")[0] for line in listing if ":" in line)
    return sorted({name for name in names if name.startswith(config.VETH_PREFIX)})


def remove_leftovers():
    for veth in leftover_veths():
        sh(["ip", "link", "del", veth], check=False, quiet=True)
    for netns in leftover_netns():
        sh(["ip", "netns", "del", netns], check=False, quiet=True)
