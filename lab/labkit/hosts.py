"""Booting and stopping lab hosts: an overlay on the suite's image, systemd-nspawn
in the host's own network namespace, reachable as root over SSH with the lab key."""
import socket
import subprocess
import time
from pathlib import Path

from . import config, images, network, processes
from .run import LabError, say, sh


def host_dir(host):
    return config.STATE / "hosts" / host.name


def root_dir(host):
    return host_dir(host) / "root"


def _pidfile(host):
    return host_dir(host) / "nspawn.pid"


def _nspawn_marker(host):
    return f"--machine={host.name}"


def ssh_base(host, extra=()):
    return [
        "ssh", "-i", str(config.SSH_KEY), "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5", *extra, f"root@{host.address}",
    ]


def create(host):
    """Prepare the host's root (overlay + per-host files) and its network; boot it."""
    lower = images.lower_dir(host.suite)
    base = host_dir(host)
    destroy(host)
    for sub in ("upper", "work", "root"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    sh(["mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={lower},upperdir={base / 'upper'},workdir={base / 'work'}", root_dir(host)])
    _personalise(host)
    network.host_up(host)
    processes.start([
        "systemd-nspawn", "--boot", "--register=no", "--keep-unit", f"--directory={root_dir(host)}",
        _nspawn_marker(host), f"--hostname={host.name}",
        f"--network-namespace-path=/run/netns/{host.netns}", "--resolv-conf=off", "--timezone=off",
        "--link-journal=no", "--console=pipe",
        # fail2ban bans with nftables; the rules live in the host's own
        # network namespace and never reach the machine's.
        "--capability=CAP_NET_ADMIN",
    ], _pidfile(host), base / "console.log")


def _personalise(host):
    root = root_dir(host)
    short = host.fqdn.split(".")[0]
    (root / "etc/hostname").write_text(f"{host.name}\n")
    (root / "etc/hosts").write_text(
        f"127.0.0.1\tlocalhost\n{host.address}\t{host.fqdn} {short}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n")
    sh(["ssh-keygen", "-A", "-f", root], quiet=True)


def wait_ready(host, timeout=90.0):
    """Wait until sshd answers and systemd finished booting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processes.recorded_pid(_pidfile(host), _nspawn_marker(host)) is None:
            raise LabError(f"{host.name} stopped while booting; see {host_dir(host) / 'console.log'}")
        try:
            with socket.create_connection((host.address, 22), timeout=1):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        state = sh(ssh_base(host) + ["systemctl", "is-system-running", "--wait"], check=False, capture=True)
        if state.stdout.strip() in ("running", "degraded"):
            if state.stdout.strip() == "degraded":
                failed = sh(ssh_base(host) + ["systemctl", "--failed", "--no-legend"], check=False, capture=True)
                say(f"{host.name}: booted degraded: {failed.stdout.strip()}")
            return
        time.sleep(0.3)
    raise LabError(f"{host.name} was not ready after {timeout:.0f}s; see {host_dir(host) / 'console.log'}")


def refresh_packages(host):
    sh(ssh_base(host) + ["apt-get", "-q", "-o", "Acquire::Retries=3", "update"], quiet=True)


def is_running(host):
    return processes.recorded_pid(_pidfile(host), _nspawn_marker(host)) is not None


def destroy(host):
    processes.stop(_pidfile(host), _nspawn_marker(host), timeout=30.0, name=f"{host.name}")
    _unmount_under(host_dir(host))
    network.host_down(host)
    if host_dir(host).exists():
        sh(["rm", "-rf", "--one-file-system", host_dir(host)])


def mounts_under(path):
    path = str(Path(path).resolve())
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == path or target.startswith(path + "/"):
            mounts.append(target)
    return mounts


def _unmount_under(path):
    # Deepest first, so nested mounts left by a crashed guest go before the overlay.
    for target in sorted(mounts_under(path), key=len, reverse=True):
        if subprocess.run(["umount", target], capture_output=True).returncode != 0:
            sh(["umount", "-l", target])
