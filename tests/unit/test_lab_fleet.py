"""The lab's reading of inventory/lab/hosts.yml and its network guard."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from labkit import config, fleet, network, services  # noqa: E402
from labkit.run import LabError  # noqa: E402


def write_inventory(tmp_path, hosts):
    lines = ["all:", "  children:", "    group:", "      hosts:"]
    for name, variables in hosts.items():
        lines.append(f"        {name}:")
        lines.extend(f"          {key}: {value}" for key, value in variables.items())
    path = tmp_path / "hosts.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_shipped_inventory_is_a_valid_lab():
    hosts = {h.name: h for h in fleet.load()}
    assert {"mx1", "mx2", "outside"} <= set(hosts)
    assert hosts["mx1"].suite == "bookworm" and hosts["mx2"].suite == "trixie"


def test_host_fields_and_mac_derived_from_address(tmp_path):
    path = write_inventory(tmp_path, {"mx9": {"ansible_host": "198.18.0.42", "lab_suite": "trixie",
                                              "lab_fqdn": "mx9.falcot.test"}})
    (host,) = fleet.load(path)
    assert (host.name, host.address, host.suite, host.fqdn) == ("mx9", "198.18.0.42", "trixie", "mx9.falcot.test")
    assert host.mac == "02:6d:66:12:00:2a"
    assert (host.netns, host.veth) == ("mf-mx9", "mfv-mx9")


@pytest.mark.parametrize("variables, message", [
    ({"ansible_host": "203.0.113.5", "lab_suite": "bookworm"}, "must be a host address in 198.18.0.0/24"),
    ({"ansible_host": "198.51.100.5", "lab_suite": "bookworm"}, "must be a host address in 198.18.0.0/24"),
    ({"ansible_host": "198.18.1.5", "lab_suite": "bookworm"}, "must be a host address in 198.18.0.0/24"),
    ({"ansible_host": "198.18.0.1", "lab_suite": "bookworm"}, "other than the bridge"),
    ({"ansible_host": "198.18.0.255", "lab_suite": "bookworm"}, "must be a host address"),
    ({"ansible_host": "mx.example", "lab_suite": "bookworm"}, "is not an IP address"),
    ({"ansible_host": "198.18.0.5", "lab_suite": "sid"}, "lab_suite must be one of"),
    ({"ansible_host": "198.18.0.5", "lab_suite": "bookworm", "lab_reverse_dns": "maybe"}, "true or false"),
])
def test_bad_hosts_are_refused(tmp_path, variables, message):
    path = write_inventory(tmp_path, {"bad": variables})
    with pytest.raises(LabError, match=message):
        fleet.load(path)


def test_dns_records_follow_reverse_dns_choice(tmp_path):
    path = write_inventory(tmp_path, {
        "named": {"ansible_host": "198.18.0.42", "lab_suite": "bookworm", "lab_fqdn": "named.lab.test"},
        "bare": {"ansible_host": "198.18.0.43", "lab_suite": "bookworm", "lab_fqdn": "bare.lab.test",
                 "lab_reverse_dns": "false"}})
    argv = services.dns_arguments(fleet.load(path))
    assert "--host-record=named.lab.test,198.18.0.42" in argv
    assert "--address=/bare.lab.test/198.18.0.43" in argv
    assert not any("bare.lab.test" in arg for arg in argv if arg.startswith("--host-record"))


def test_dns_serves_records_written_at_run_time():
    # playbooks/dns_records.yml writes the DKIM, SPF and DMARC records there (dns_records_dnsmasq_file).
    assert f"--conf-dir={config.DNS_EXTRA},*.conf" in services.dns_arguments([])


def test_two_hosts_on_one_address_are_refused(tmp_path):
    same = {"ansible_host": "198.18.0.5", "lab_suite": "bookworm"}
    path = write_inventory(tmp_path, {"a": same, "b": same})
    with pytest.raises(LabError, match="share 198.18.0.5"):
        fleet.load(path)


def test_names_too_long_for_an_interface_are_refused(tmp_path):
    path = write_inventory(tmp_path, {"averyveryverylongname": {"ansible_host": "198.18.0.5", "lab_suite": "bookworm"}})
    with pytest.raises(LabError, match="at most 11 characters"):
        fleet.load(path)


@pytest.mark.parametrize("values, refused", [(["0", "0"], False), (["1", "0"], True), (["0", "1"], True)])
def test_the_lab_refuses_a_forwarding_machine(tmp_path, values, refused):
    switches = []
    for index, value in enumerate(values):
        switch = tmp_path / f"switch{index}"
        switch.write_text(value + "\n")
        switches.append(str(switch))
    if refused:
        with pytest.raises(LabError, match="forwards IP packets"):
            network.refuse_forwarding(switches)
    else:
        network.refuse_forwarding(switches)
