"""The fleet, as described by inventory/lab/hosts.yml."""
import ipaddress
from dataclasses import dataclass

import yaml

from . import config
from .run import LabError


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    suite: str
    fqdn: str
    # False: a forward (A) record only, like the many Internet clients whose
    # address has no PTR record (reject_unknown_client_hostname's case).
    reverse_dns: bool = True

    @property
    def netns(self):
        return config.NETNS_PREFIX + self.name

    @property
    def veth(self):
        return config.VETH_PREFIX + self.name

    @property
    def mac(self):
        # Derived from the address so a re-created host keeps its MAC and no
        # stale ARP entry on the bridge can point elsewhere.
        last = int(ipaddress.ip_address(self.address)) & 0xFF
        return f"02:6d:66:12:00:{last:02x}"


def _walk(group, found):
    for name, variables in (group.get("hosts") or {}).items():
        found[name] = {**found.get(name, {}), **(variables or {})}
    for child in (group.get("children") or {}).values():
        _walk(child or {}, found)


def load(path=config.INVENTORY):
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    found = {}
    _walk(data.get("all", {}), found)
    hosts = [_host(name, variables) for name, variables in found.items()]
    _check_unique(hosts)
    return hosts


def _host(name, variables):
    if len(config.VETH_PREFIX + name) > 15 or not name.replace("-", "").isalnum():
        raise LabError(f"lab host name {name!r}: use letters, digits and '-', at most 11 characters")
    address = variables.get("ansible_host")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise LabError(f"lab host {name}: ansible_host {address!r} is not an IP address") from exc
    if ip not in config.LAB_NET or str(ip) in (config.BRIDGE_ADDRESS, str(config.LAB_NET.network_address),
                                                str(config.LAB_NET.broadcast_address)):
        raise LabError(f"lab host {name}: {ip} must be a host address in {config.LAB_NET} other than the bridge")
    suite = variables.get("lab_suite")
    if suite not in config.SUITES:
        raise LabError(f"lab host {name}: lab_suite must be one of {', '.join(config.SUITES)}")
    fqdn = variables.get("lab_fqdn") or f"{name}.lab.test"
    reverse_dns = variables.get("lab_reverse_dns", True)
    if not isinstance(reverse_dns, bool):
        raise LabError(f"lab host {name}: lab_reverse_dns must be true or false")
    return Host(name=name, address=str(ip), suite=suite, fqdn=fqdn, reverse_dns=reverse_dns)


def _check_unique(hosts):
    seen = {}
    for host in hosts:
        if host.address in seen:
            raise LabError(f"lab hosts {seen[host.address]} and {host.name} share {host.address}")
        seen[host.address] = host.name
