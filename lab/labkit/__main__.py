"""lab up | down | status | ssh NAME [COMMAND...] | build"""
import argparse
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import config, fleet, hosts, images, network, services
from .run import LabError, say, sh

REQUIRED_TOOLS = ("mmdebstrap", "systemd-nspawn", "dnsmasq", "apt-ftparchive", "ip", "ssh", "ssh-keygen", "tar")


def preflight():
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts, systemd-nspawn)")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)}; run scripts/setup first")
    network.refuse_forwarding()


def up(selected):
    preflight()
    everyone = fleet.load()
    down(everyone, quiet=True)
    wanted = [h for h in everyone if not selected or h.name in selected]
    images.ensure_ssh_key()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(images.ensure, sorted({h.suite for h in everyone})))
    config.STATE.mkdir(parents=True, exist_ok=True)
    config.CONTROL_DIR.mkdir(parents=True, exist_ok=True)
    # At a fixed path, like a real site's signature files on its controller.
    shutil.copytree(config.SIGNATURES, config.STATE / "signatures", dirs_exist_ok=True)
    network.bridge_up()
    services.start(everyone)
    for host in wanted:
        hosts.create(host)
    with ThreadPoolExecutor(max_workers=len(wanted) or 1) as pool:
        list(pool.map(hosts.wait_ready, wanted))
        list(pool.map(hosts.refresh_packages, wanted))
    for host in wanted:
        say(f"{host.name:10} {host.address:15} {host.suite:9} {host.fqdn}  up")


def down(everyone=None, quiet=False):
    everyone = everyone if everyone is not None else fleet.load()
    _close_ssh_masters()
    for host in everyone:
        hosts.destroy(host)
    # Hosts that are gone from the inventory but were left by an earlier run.
    known = {h.name for h in everyone}
    hosts_root = config.STATE / "hosts"
    if hosts_root.exists():
        for leftover in sorted(p.name for p in hosts_root.iterdir() if p.name not in known):
            hosts.destroy(fleet.Host(leftover, "198.18.0.254", config.SUITES[0], leftover))
    network.remove_leftovers()
    services.stop()
    network.bridge_down()
    if not quiet:
        say("lab is down")


def _close_ssh_masters():
    if not config.CONTROL_DIR.exists():
        return
    for socket_path in config.CONTROL_DIR.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "lab"],
                       capture_output=True, timeout=10)
        socket_path.unlink(missing_ok=True)


def status():
    everyone = fleet.load()
    running = services.running()
    print(f"bridge {config.BRIDGE}: {'up' if Path('/sys/class/net', config.BRIDGE).exists() else 'absent'}")
    for name, pid in running.items():
        print(f"{name:10} {'pid ' + str(pid) if pid else 'stopped'}")
    all_up = bool(running["dns"] and running["repo"])
    for host in everyone:
        state = "running" if hosts.is_running(host) else "stopped"
        all_up = all_up and state == "running"
        print(f"{host.name:10} {host.address:15} {host.suite:9} {state}")
    return 0 if all_up else 3


def ssh(name, command):
    host = next((h for h in fleet.load() if h.name == name), None)
    if host is None:
        raise LabError(f"no lab host named {name!r}")
    os.execvp("ssh", hosts.ssh_base(host, extra=("-t",) if not command and sys.stdin.isatty() else ()) + command)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lab/lab", description="Throwaway Debian hosts for mailforge.")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="(re)create the lab; all hosts, or the ones named")
    up_parser.add_argument("hosts", nargs="*")
    sub.add_parser("down", help="stop and remove every lab host, server and network piece")
    sub.add_parser("status", help="show what runs; exit 0 only if everything does")
    sub.add_parser("build", help="build the cached images and package pools only")
    sub.add_parser("dns-reload", help="restart the lab DNS server, so that it serves dns.d/*.conf as written now")
    ssh_parser = sub.add_parser("ssh", help="ssh to a lab host as root")
    ssh_parser.add_argument("name")
    ssh_parser.add_argument("remote", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            up(args.hosts)
        elif args.command == "down":
            preflight()
            down()
        elif args.command == "status":
            return status()
        elif args.command == "build":
            preflight()
            for suite in sorted({h.suite for h in fleet.load()}):
                images.ensure(suite)
        elif args.command == "dns-reload":
            preflight()
            services.restart_dns(fleet.load())
        elif args.command == "ssh":
            ssh(args.name, args.remote)
    except LabError as error:
        say(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
