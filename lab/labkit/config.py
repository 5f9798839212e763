"""Where the lab keeps things, and the fixed facts of its network."""
import ipaddress
import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LAB_DIR = PROJECT / "lab"
# bench/noop_converge --extra-mx boots a copy with more MX hosts through this variable.
INVENTORY = Path(os.environ.get("MAILFORGE_LAB_INVENTORY", PROJECT / "inventory" / "lab" / "hosts.yml"))
PACKAGES_FILE = LAB_DIR / "packages.txt"
IMAGE_HOOK = LAB_DIR / "image-hook.sh"
DNS_CONF = LAB_DIR / "dns.conf"
# ClamAV signatures for the lab, published under STATE for the inventory.
SIGNATURES = LAB_DIR / "signatures"

# Images and the offline package pool survive across runs (outside the checkout);
# running hosts and servers live under STATE and are removed by `lab down`.
CACHE = Path(os.environ.get("MAILFORGE_LAB_CACHE", "/var/cache/mailforge-lab"))
STATE = Path(os.environ.get("MAILFORGE_LAB_STATE", "/var/lib/mailforge-lab"))

LAB_NET = ipaddress.ip_network("198.18.0.0/24")
BRIDGE = "lab0"
BRIDGE_ADDRESS = "198.18.0.1"
REPO_PORT = 9080
NETNS_PREFIX = "mf-"
VETH_PREFIX = "mfv-"

SUITES = ("bookworm", "trixie")
MIRROR = os.environ.get("MAILFORGE_LAB_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("MAILFORGE_LAB_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
BASE_PACKAGES = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,"
    "netbase,procps,ca-certificates,sudo,less,iputils-ping"
)
# Bump when the image recipe changes in a way the package list does not show.
IMAGE_RECIPE_VERSION = "1"

# Records written at run time (playbooks/dns_records.yml with dns_records_dnsmasq_file,
# e.g. the DKIM keys the lab generates): dnsmasq reads every *.conf here at start.
DNS_EXTRA = STATE / "dns.d"

SSH_KEY = CACHE / "id_ed25519"
CONTROL_DIR = STATE / "ssh-control"


def repo_url(suite):
    return f"http://{BRIDGE_ADDRESS}:{REPO_PORT}/{suite}"
