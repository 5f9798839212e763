"""The Handbook's single server still works: one host, every role, local delivery.

The lab hosts `solo` (Debian 12) and `solo13` (Debian 13) are outside the
fleet. The module fixture converges each with site.yml from an inventory of its
own that has only the `mail_servers` group (no mx_hosts, no mailbox_hosts) and
the lab's group variables, then real SMTP from `outside` checks that it filters
and delivers by itself. solo13 is converged by the newest ansible-core from the
lab host ctl (newest_core.py): converge, idempotence and the SMTP checks on the
new release, while solo keeps them on this machine's ansible-core.
"""
import shutil

import pytest
import yaml

from ansible_runs import TOP, ThisMachine, recap_all_unchanged
from antivirus_mail import EICAR, SIGNATURE, message
from antivirus_mail import send as send_to_jean
from labkit.remote import last_reply


# Each spare host is converged by its own controller: solo (Debian 12) from
# this machine, solo13 (Debian 13) by the newest ansible-core from ctl.
SPARES = {"solo": "this_machine", "solo13": "newest_core"}


@pytest.fixture(scope="module", params=sorted(SPARES))
def solo(request, lab, tmp_path_factory):
    name = request.param
    controller = ThisMachine() if SPARES[name] == "this_machine" else request.getfixturevalue("newest_core")
    lab_inventory = TOP / "inventory" / "lab"
    spare = yaml.safe_load((lab_inventory / "hosts.yml").read_text())["all"]["children"]["lab_spares"]
    work = tmp_path_factory.mktemp(f"single-server-{name}")
    inventory = work / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"mail_servers": {"hosts": {name: spare["hosts"][name]}}}}}))
    shutil.copytree(lab_inventory / "group_vars", inventory / "group_vars")
    (work / "users.yml").write_text(yaml.safe_dump([{
        "name": "A local user for delivery tests", "hosts": "mail_servers", "gather_facts": False,
        "tasks": [{"name": "Jean", "ansible.builtin.user": {"name": "jean"}}]}]))
    there = controller.put_inventory(work, f"single-server-{name}")
    for playbook in (f"{there}/users.yml", "site.yml"):
        run = controller.playbook("-i", f"{there}/inventory", playbook)
        assert run.returncode == 0, f"{controller.name}:\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
    return {"host": lab[name], "inventory": f"{there}/inventory", "controller": controller}


def send(lab, server, recipient, marker, body="hello"):
    outside = lab["outside"]
    text = f"From: <someone@elsewhere.test>\nTo: <{recipient}>\nSubject: {marker}\n\n{body}\n"
    return outside.smtp(server.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@elsewhere.test>",
                                         f"RCPT TO:<{recipient}>", {"data": text}])


def test_it_relays_nothing_and_delivers_every_domain_itself(solo):
    host = solo["host"]
    assert "falcot.test" in host.run("postconf -h mydestination").stdout
    explicit = host.run("postconf -n").stdout
    assert not [line for line in explicit.splitlines()
                if line.split(" =")[0] in ("relay_domains", "transport_maps", "relay_recipient_maps")], explicit
    assert host.run("postconf -h virtual_mailbox_domains").stdout.strip() == "partners.falcot.test"


@pytest.mark.parametrize("recipient, path", [
    ("jean@falcot.test", "/var/mail/jean"),
    ("anna@partners.falcot.test", "/var/mail/vhosts/partners.falcot.test/anna/new"),
])
def test_it_delivers_locally(lab, solo, recipient, path, marker):
    transcript = send(lab, solo["host"], recipient, marker)
    assert last_reply(transcript)[0] == 250 and transcript[-1]["send"] == "<message>", transcript
    assert solo["host"].wait_for_file_containing(path, marker), f"{marker} not in {solo['host'].name}:{path}"


def test_it_refuses_unknown_virtual_recipients_at_rcpt(lab, solo):
    outside = lab["outside"]
    transcript = outside.smtp(solo["host"].address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@elsewhere.test>",
                                                     "RCPT TO:<nobody@partners.falcot.test>"])
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "RCPT TO:<nobody@partners.falcot.test>", transcript
    assert code == 550 and "User unknown in virtual mailbox table" in text, transcript


def test_it_runs_the_filters_itself(lab, solo, marker):
    transcript = send_to_jean(lab, solo["host"], message(marker, EICAR))
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "<message>", transcript
    assert code == 550 and SIGNATURE in text, transcript


def test_a_second_converge_changes_nothing(solo):
    again = solo["controller"].playbook("-i", solo["inventory"], "site.yml")
    assert again.returncode == 0, again.stdout[-4000:]
    unchanged, recap = recap_all_unchanged(again.stdout)
    assert unchanged, recap
