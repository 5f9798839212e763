"""The lab's own servers on the bridge address: DNS (dnsmasq) and the package repository."""
import socket
import sys
import time

from . import config, images, processes
from .run import LabError

DNSMASQ_PID = "dnsmasq.pid"
REPO_PID = "repo-http.pid"


def _wait_for_port(port, proto, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.settimeout(0.5)
            try:
                if proto == "tcp":
                    probe.connect((config.BRIDGE_ADDRESS, port))
                    return
                probe.sendto(_dns_query(), (config.BRIDGE_ADDRESS, port))
                probe.recvfrom(512)
                return
            except OSError:
                time.sleep(0.1)
    raise LabError(f"{what} did not answer on {config.BRIDGE_ADDRESS}:{port}/{proto}")


def _dns_query():
    # A minimal query for "test. SOA": enough to see the server answer.
    return b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x06\x00\x01"


def dns_arguments(hosts):
    argv = [
        "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
        "--bind-interfaces", f"--listen-address={config.BRIDGE_ADDRESS}", "--except-interface=lo",
        f"--conf-file={config.DNS_CONF}", f"--conf-dir={config.DNS_EXTRA},*.conf",
        f"--pid-file={config.STATE / 'dnsmasq.own.pid'}",
        "--log-queries", f"--log-facility={config.STATE / 'dnsmasq.log'}",
        f"--host-record=gw.lab.test,{config.BRIDGE_ADDRESS}",
    ]
    for host in hosts:
        if host.reverse_dns:
            argv.append(f"--host-record={host.fqdn},{host.address}")
        else:
            argv.append(f"--address=/{host.fqdn}/{host.address}")
    return argv


def start_dns(hosts):
    # dnsmasq refuses to start on a missing --conf-dir.
    config.DNS_EXTRA.mkdir(parents=True, exist_ok=True)
    dns = processes.start(dns_arguments(hosts), config.STATE / DNSMASQ_PID, config.STATE / "dnsmasq.out")
    _wait_for_port(53, "udp", "the lab DNS server")
    processes.ensure_alive(dns, "dnsmasq", config.STATE / "dnsmasq.out")


def restart_dns(hosts):
    """Read dns.conf and the records in DNS_EXTRA again: dnsmasq reads its configuration only at start."""
    processes.stop(config.STATE / DNSMASQ_PID, str(config.DNS_CONF), name="dnsmasq")
    start_dns(hosts)


def start(hosts):
    config.STATE.mkdir(parents=True, exist_ok=True)
    start_dns(hosts)
    repo_root = images.pool_dir(config.SUITES[0]).parent
    repo = processes.start(
        [sys.executable, "-m", "http.server", str(config.REPO_PORT), "--bind", config.BRIDGE_ADDRESS,
         "--directory", str(repo_root)],
        config.STATE / REPO_PID, config.STATE / "repo-http.log")
    _wait_for_port(config.REPO_PORT, "tcp", "the lab package repository")
    processes.ensure_alive(repo, "the package repository", config.STATE / "repo-http.log")


def stop():
    processes.stop(config.STATE / DNSMASQ_PID, str(config.DNS_CONF), name="dnsmasq")
    processes.stop(config.STATE / REPO_PID, "http.server", name="the package repository")


def running():
    return {
        "dns": processes.recorded_pid(config.STATE / DNSMASQ_PID, str(config.DNS_CONF)),
        "repo": processes.recorded_pid(config.STATE / REPO_PID, "http.server"),
    }
