"""The Handbook's single server still works: one host, every role, local delivery.

The lab host `solo` is outside the fleet. The module fixture converges it with
site.yml from an inventory of its own that has only the `mail_servers` group
(no mx_hosts, no mailbox_hosts) and the lab's group variables, then real
SMTP from `outside` checks that it filters and delivers by itself.
"""
import shutil
import subprocess

import pytest
import yaml

from ansible_runs import TOP
from antivirus_mail import EICAR, SIGNATURE, message
from antivirus_mail import send as send_to_jean
from labkit.remote import last_reply
from labkit.run import project_ansible_env


def playbook(inventory, *args):
    return subprocess.run([str(TOP / ".venv/bin/ansible-playbook"), "-i", str(inventory), *args], cwd=TOP,
                          env=project_ansible_env(), capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def solo(lab, tmp_path_factory):
    lab_inventory = TOP / "inventory" / "lab"
    spare = yaml.safe_load((lab_inventory / "hosts.yml").read_text())["all"]["children"]["lab_spares"]
    inventory = tmp_path_factory.mktemp("single-server")
    (inventory / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"mail_servers": {"hosts": {"solo": spare["hosts"]["solo"]}}}}}))
    shutil.copytree(lab_inventory / "group_vars", inventory / "group_vars")
    users = inventory / "users.yml"
    users.write_text(yaml.safe_dump([{"name": "A local user for delivery tests", "hosts": "mail_servers",
                                      "gather_facts": False, "tasks": [{
                                          "name": "Jean", "ansible.builtin.user": {"name": "jean"}}]}]))
    for run in (playbook(inventory, str(users)), playbook(inventory, "site.yml")):
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return {"host": lab["solo"], "inventory": inventory}


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
    assert solo["host"].wait_for_file_containing(path, marker), f"{marker} not in solo:{path}"


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
    again = playbook(solo["inventory"], "site.yml")
    assert again.returncode == 0, again.stdout[-4000:]
    recap = again.stdout[again.stdout.index("PLAY RECAP"):]
    assert all(" changed=0 " in line for line in recap.splitlines()[1:] if ":" in line), recap
