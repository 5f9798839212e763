"""Issue 14 on the lab: the fleet signs its mail with one DKIM key set, checks SPF and DMARC of incoming mail.

The lab converges with the deliverability roles on (lab_deliverability in
inventory/lab/group_vars/mx_hosts.yml), its keys made and switched on beforehand as an admin
would (scripts/lab-dkim-keys: playbooks/dkim_keys.yml, vault-encrypted in the lab's state with the
password of lab/vault-pass, records by playbooks/dns_records.yml in the lab DNS). Molecule's
idempotence step is the second converge; these tests send mail in every direction, rotate the
keys (converging the MX hosts after each step) and check that the converge after the rotation
changes nothing.

The tests run in file order on purpose: the rotation test ends with the first selector signing
again, which the tests after it rely on.
"""
import base64
import email
import json
import re
import secrets
import shlex
import subprocess

import pytest
import yaml

from ansible_runs import TOP, ansible, failed_with, recap_all_unchanged, site_with
from company_mail import queue, wait_until
from labkit.remote import last_reply
from secret_search import files_holding, lab_secrets
from test_sasl import vault_password_file, vaulted_users_file

PLAYBOOK = str(TOP / ".venv/bin/ansible-playbook")
DOMAIN = "falcot.test"


def lab_settings():
    return yaml.safe_load((TOP / "inventory/lab/group_vars/mx_hosts.yml").read_text())


def first_selector():
    return lab_settings()["dkim_keys_domains"][DOMAIN][0]["selector"]


def playbook(*args):
    result = ansible([PLAYBOOK, *args])
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def dns_reload():
    subprocess.run([str(TOP / "lab/lab"), "dns-reload"], check=True, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def fleet(lab):
    """The lab with deliverability on; every ansible output of the module is kept (no key may appear in one)."""
    outputs = []

    def record(result):
        outputs.append(result.stdout + result.stderr)
        return result

    def keys(step="ensure", selector=None, *extra):
        args = ["playbooks/dkim_keys.yml", "-e", f"dkim_keys_step={step}"]
        if selector:
            args += ["-e", f"dkim_keys_domain={DOMAIN}", "-e", f"dkim_keys_selector={selector}"]
        return record(playbook(*args, *extra))

    def records(*extra):
        result = record(playbook("playbooks/dns_records.yml", *extra))
        dns_reload()
        return result

    def converge():
        # The rotation changes the MX hosts alone: their signing keys and milter settings.
        result = record(site_with({}, limit="mx_hosts"))
        assert result.returncode == 0, result.stdout[-4000:]
        return result

    # dkimverify where the mail is delivered.
    lab["mbox"].run("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-dkim",
                    timeout=600)
    # The keys the lab converged with (scripts/lab-dkim-keys), made again: nothing may change.
    unchanged = keys()
    assert "nothing changed" in unchanged.stdout, unchanged.stdout[-2000:]
    yield {"outputs": outputs, "keys": keys, "records": records, "converge": converge}


@pytest.fixture(scope="module")
def submitter(tmp_path_factory, fleet):
    """A SASL user of the fleet (playbooks/sasl_users.yml), removed again at the end."""
    workdir = tmp_path_factory.mktemp("deliverability")
    password_file = vault_password_file(workdir)
    user = {"name": "dkimtest", "password": "D-" + secrets.token_urlsafe(12)}

    def rollout(users):
        users_file = vaulted_users_file(workdir, password_file, {"sasl_users": users, "sasl_users_exclusive": False})
        result = ansible([PLAYBOOK, "playbooks/sasl_users.yml", "--vault-password-file", str(password_file),
                          "-e", f"sasl_users_file={users_file}"])
        fleet["outputs"].append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stdout[-3000:]

    rollout([user])
    yield user
    rollout([{"name": user["name"], "state": "absent"}])


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def message(sender, recipient, marker, header_from=None):
    # No body line starts with "From ": the mailbox file would quote it and break the body hash.
    return (f"From: <{header_from or sender}>\nTo: <{recipient}>\nSubject: {marker}\n"
            f"Message-ID: <{marker}@lab.test>\nDate: Thu, 01 Jan 2026 00:00:00 +0000\n\nbody {marker}\n")


def send(client, mx, sender, marker, header_from=None, recipient="jean@falcot.test"):
    return client.smtp(mx.address, [f"EHLO {client.fqdn}", f"MAIL FROM:<{sender}>", f"RCPT TO:<{recipient}>",
                                    {"data": message(sender, recipient, marker, header_from)}])


# The message holding the marker in jean's mailbox on the mailbox host, as delivered (no "From " line).
DELIVERED = ("import mailbox, sys\nbox = mailbox.mbox('/var/mail/jean')\n"
             "found = [key for key in box.keys() if sys.argv[1].encode() in box.get_bytes(key)]\n"
             "sys.stdout.buffer.write(box.get_bytes(found[-1]) if found else b'')\n")


def delivered(lab, marker):
    mbox = lab["mbox"]
    assert mbox.wait_for_file_containing("/var/mail/jean", marker), f"{marker} not delivered"
    return mbox.run(f"python3 -c {shlex.quote(DELIVERED)} {shlex.quote(marker)}").stdout


def dkim_verification(lab, marker):
    """dkimverify's verdict on the delivered message, against the lab's DNS (as any receiver would check)."""
    delivered(lab, marker)
    result = lab["mbox"].run(f"python3 -c {shlex.quote(DELIVERED)} {shlex.quote(marker)} | dkimverify", check=False)
    return result.stdout.strip()


def headers(raw, name):
    """Every ``name`` header of a message, unfolded."""
    return [" ".join(str(value).split()) for value in email.message_from_string(raw).get_all(name) or []]


def signature_tags(raw):
    """The d= and s= tags of the message's (first) DKIM-Signature."""
    signatures = headers(raw, "DKIM-Signature")
    assert signatures, f"no DKIM-Signature in:\n{raw[:3000]}"
    return {tag: value for tag, value in re.findall(r"(?:^|;)\s*([a-z]+)=([^;\s]*)", signatures[0]) if tag in ("d", "s")}


SIGNER, VERIFIER = "unix:/dkimpy-milter/dkimpy-milter.sock", "unix:/dkimpy-milter/verify.sock"
INTERNAL_MILTERS = "cidr:/etc/postfix/internal_milters.cidr"


def in_mail_order(chain, dkim):
    """ClamAV, then the DKIM milter ``dkim`` (and not the other one), then OpenDMARC."""
    other = VERIFIER if dkim == SIGNER else SIGNER
    return (chain.index("clamav-milter.ctl") < chain.index(dkim) < chain.index("opendmarc.sock")
            and other not in chain)


def test_the_milters_are_chained_in_the_mails_order(lab, mx):
    # Every client on port 25 but mynetworks: the verifier, never the signer.
    chain = mx.run("postconf -h smtpd_milters").stdout
    assert in_mail_order(chain, VERIFIER), chain
    # mynetworks (office): the signer, from the cidr table of smtpd_milter_maps; outside falls back to smtpd_milters.
    assert mx.run("postconf -h smtpd_milter_maps").stdout.strip() == INTERNAL_MILTERS
    office = mx.run(f"postmap -q {lab['office'].address} {INTERNAL_MILTERS}").stdout
    assert in_mail_order(office, SIGNER), office
    outside = mx.run(f"postmap -q {lab['outside'].address} {INTERNAL_MILTERS}", check=False)
    assert (outside.returncode, outside.stdout) == (1, ""), outside
    # The submission service, SASL-authenticated senders wherever they are: the signer.
    submission = mx.run("postconf -P submission/inet/smtpd_milters").stdout
    assert in_mail_order(submission, SIGNER), submission
    assert mx.run("postconf -h milter_default_action").stdout.strip() == "tempfail"
    for unit in ("dkimpy-milter", "dkimpy-milter-verify", "opendmarc"):
        assert mx.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active", unit


def test_mail_from_the_office_is_signed_and_verifies(lab, fleet, mx, marker):
    transcript = send(lab["office"], mx, "staff@falcot.test", marker)
    assert last_reply(transcript)[0] == 250, transcript
    assert signature_tags(delivered(lab, marker)) == {"d": DOMAIN, "s": first_selector()}
    assert dkim_verification(lab, marker) == "signature ok"


def test_mail_from_an_authenticated_user_on_587_is_signed_and_verifies(lab, fleet, submitter, mx, marker):
    outside = lab["outside"]
    sender = f"{submitter['name']}@falcot.test"
    login = "AUTH PLAIN " + base64.b64encode(f"\0{submitter['name']}\0{submitter['password']}".encode()).decode()
    transcript = outside.smtp(mx.address, [
        f"EHLO {outside.fqdn}", "STARTTLS", f"EHLO {outside.fqdn}", login, f"MAIL FROM:<{sender}>",
        "RCPT TO:<jean@falcot.test>", {"data": message(sender, "jean@falcot.test", marker)}], port=587)
    assert last_reply(transcript)[0] == 250, transcript
    assert signature_tags(delivered(lab, marker)) == {"d": DOMAIN, "s": first_selector()}
    assert dkim_verification(lab, marker) == "signature ok"


def test_fleet_signed_mail_coming_back_from_outside_is_verified_and_passes_dmarc(lab, fleet, mx, marker):
    """The verifier (the DKIM milter of Internet clients) at work: mail the fleet signed, passed on from
    the Internet as a forwarder would (its envelope not the company's), passes DMARC on its signature
    alone; the same From: without that signature is refused (test_a_forged_company_from...)."""
    signed = marker + "-signed"
    assert last_reply(send(lab["office"], lab["mx1"], "staff@falcot.test", signed))[0] == 250
    raw = delivered(lab, signed)
    # As signed: what the mailbox host put above the signature (Delivered-To above all) stays behind.
    forwarded = raw[raw.index("DKIM-Signature:"):]
    outside = lab["outside"]
    transcript = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<forwarder@spf-pass.test>",
                                           "RCPT TO:<jean@falcot.test>", {"data": forwarded}])
    assert transcript[-1]["send"] == "<message>" and last_reply(transcript)[0] == 250, transcript
    copies = f"grep -c -F {shlex.quote(f'Message-ID: <{signed}@lab.test>')} /var/mail/jean"
    wait_until(lambda: int(lab["mbox"].run(copies, check=False).stdout.strip() or 0) == 2, "the forwarded copy delivered")
    results = headers(delivered(lab, signed), "Authentication-Results")
    ours = [value for value in results if value.startswith(f"{mx.fqdn};")]
    assert any("dkim=pass" in value and "header.d=falcot.test" in value for value in ours), results
    assert any("dmarc=pass" in value and "header.from=falcot.test" in value for value in ours), results


def test_an_spf_hard_fail_is_refused_at_rcpt_with_the_spf_reason(lab, fleet, mx):
    outside = lab["outside"]
    transcript = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@spf-fail.test>",
                                           "RCPT TO:<jean@falcot.test>"])
    step = transcript[-1]
    assert step["send"] == "RCPT TO:<jean@falcot.test>" and step["code"] == 550, transcript
    assert "SPF fail - not authorized" in step["text"] and "spf-fail.test" in step["text"], step


@pytest.fixture
def company_spf_hard_fail(lab, fleet):
    """falcot.test's SPF record published with -all for a while (the lab's is ~all: its relay tests send
    from outside as company addresses and expect the relay refusal, not an SPF one)."""
    def publish(ending):
        fleet["records"]("-e", f"dns_records_spf_all={ending}")
        record = f"dig +short TXT {DOMAIN} | grep -F v=spf1"
        wait_until(lambda: lab["mx1"].run(record, check=False).stdout.strip().endswith(f'{ending}"'),
                   f"{DOMAIN}'s SPF record ending in {ending} in the lab DNS")

    publish("-all")
    yield
    publish(lab_settings()["dns_records_spf_all"])


def test_an_spf_hard_fail_of_the_company_domain_is_refused_at_rcpt(lab, company_spf_hard_fail):
    outside = lab["outside"]
    for mx in (lab["mx1"], lab["mx2"]):
        transcript = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<jean@falcot.test>",
                                               "RCPT TO:<jean@falcot.test>"])
        step = transcript[-1]
        assert step["send"] == "RCPT TO:<jean@falcot.test>" and step["code"] == 550, (mx.name, transcript)
        assert "SPF fail - not authorized" in step["text"] and "id=jean@falcot.test" in step["text"], (mx.name, step)


@pytest.mark.parametrize("domain", ["outside.elsewhere.test", "spf-pass.test"])
def test_mail_from_outside_that_passes_spf_gets_the_spf_pass_header(lab, fleet, mx, marker, domain):
    # outside.elsewhere.test's record names the host by its A record, spf-pass.test's by address.
    transcript = send(lab["outside"], mx, f"someone@{domain}", marker)
    assert last_reply(transcript)[0] == 250, transcript
    results = headers(delivered(lab, marker), "Authentication-Results")
    assert any(value.startswith(f"{mx.fqdn}; spf=pass") and f"smtp.mailfrom={domain}" in value for value in results), results


def test_a_forged_company_from_is_refused_per_its_dmarc_policy(lab, fleet, mx, marker):
    # SPF passes for the envelope's domain, but nothing authenticates falcot.test (p=reject in the lab).
    assert lab_settings()["dns_records_dmarc"]["policy"] == "reject"
    transcript = send(lab["outside"], mx, "someone@spf-pass.test", marker, header_from="ceo@falcot.test")
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "<message>" and code == 550, transcript
    assert "rejected by DMARC policy for falcot.test" in text, transcript


def test_a_forged_from_under_p_quarantine_is_held(lab, fleet, mx, marker):
    sender = f"{marker}@spf-pass.test"
    transcript = send(lab["outside"], mx, sender, marker, header_from="ceo@dmarc-quarantine.test")
    assert last_reply(transcript)[0] == 250, transcript

    def held():
        return [entry["queue_id"] for entry in queue(mx) if entry["sender"] == sender and entry["queue_name"] == "hold"]

    wait_until(held, "the message in the hold queue")
    mx.run(f"postsuper -d {held()[0]} hold")


def test_a_rotation_signs_with_the_new_selector_and_old_mail_still_verifies(lab, fleet, marker):
    first, new = first_selector(), "rot" + secrets.token_hex(4)
    before = marker + "-before"
    assert last_reply(send(lab["office"], lab["mx1"], "staff@falcot.test", before))[0] == 250
    assert dkim_verification(lab, before) == "signature ok"
    try:
        fleet["keys"]("publish", new)
        fleet["records"]()
        fleet["keys"]("switch", new)
        fleet["converge"]()
        for name in ("mx1", "mx2"):
            after = f"{marker}-{name}"
            assert last_reply(send(lab["office"], lab[name], "staff@falcot.test", after))[0] == 250
            assert signature_tags(delivered(lab, after))["s"] == new
            assert dkim_verification(lab, after) == "signature ok"
        # The old selector stays published while mail it signed may still be on its way.
        assert dkim_verification(lab, before) == "signature ok"
    finally:
        # Back to the inventory's selector; the new one retired (no grace in the test), its key off the hosts.
        fleet["keys"]("switch", first)
        fleet["keys"]("retire", new, "-e", "dkim_keys_grace_days=0")
        fleet["records"]()
        fleet["converge"]()
    for name in ("mx1", "mx2"):
        keys = lab[name].run("ls /etc/dkimpy-milter/keys").stdout.split()
        assert keys == [f"{DOMAIN}.{first}.rsa"], keys
    again = marker + "-again"
    assert last_reply(send(lab["office"], lab["mx2"], "staff@falcot.test", again))[0] == 250
    assert signature_tags(delivered(lab, again))["s"] == first
    assert dkim_verification(lab, again) == "signature ok"


def file_digests(*paths):
    """sha256 of every file under ``paths`` (absent ones named), to show that nothing was written."""
    listed = subprocess.run(["bash", "-c", 'for path in "$@"; do [ -e "$path" ] || echo "absent $path"; done; '
                             'find "$@" -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum', "-", *paths],
                            capture_output=True, text=True, check=True)
    return listed.stdout


PUBLISH = ["-e", "dkim_keys_step=publish", "-e", f"dkim_keys_domain={DOMAIN}"]
BAD_INPUT = {
    "a selector that is not a DNS label": (
        ["playbooks/dkim_keys.yml", *PUBLISH, "-e", "dkim_keys_selector=new_key!"],
        "selector 'new_key!' is not a DNS label"),
    "an RSA key below 2048 bits": (
        ["playbooks/dkim_keys.yml", *PUBLISH, "-e", "dkim_keys_selector=small2026", "-e", "dkim_keys_bits=1024"],
        "RSA key size 1024 is below 2048 bits"),
    "a DMARC policy word that does not exist": (
        ["playbooks/dns_records.yml", "-e", json.dumps({"dns_records_dmarc": {"policy": "deny"}})],
        "dns_records_dmarc policy 'deny' is not a DMARC policy"),
}


# The controller's side: the key file and the records stay as they were. (A domain to sign that
# the fleet does not handle is refused by site.yml: tests/host/test_bad_input.py.)
@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_key_and_record_input_is_refused_before_any_change(fleet, case):
    args, culprit = BAD_INPUT[case]
    settings = lab_settings()
    written = (settings["dkim_keys_file"], settings["dns_records_dnsmasq_file"], settings["dns_records_dir"])
    before = file_digests(*written)
    failed_with(ansible([PLAYBOOK, *args]), culprit, hosts=("localhost",))
    assert file_digests(*written) == before


def test_the_keys_are_the_milters_alone_and_in_no_output_or_log(lab, fleet):
    # A piece of each private key of the fleet (every ansible run of the tests is also searched
    # for them: ansible_runs.without_secrets).
    pieces = [secret for name, secret in lab_secrets().items() if name.startswith("DKIM private key")]
    assert pieces
    for output in fleet["outputs"]:
        assert "PRIVATE KEY" not in output
        for piece in pieces:
            assert piece not in output
    for name in ("mx1", "mx2"):
        host = lab[name]
        assert host.run("stat -c '%U:%G %a' /etc/dkimpy-milter/keys").stdout.strip() == "dkimpy-milter:dkimpy-milter 700"
        modes = set(host.run("stat -c '%U:%G %a' /etc/dkimpy-milter/keys/*").stdout.split("\n")) - {""}
        assert modes == {"dkimpy-milter:dkimpy-milter 600"}, modes
        # Held only by the milter's key files: not in the journal, /var/log, /etc elsewhere, /tmp, /root.
        held = files_holding(host, pieces)
        assert held and all(path.startswith("/etc/dkimpy-milter/keys/") for path in held), f"{name}: {held}"


def test_every_mx_holds_the_same_keys(lab, fleet):
    """One key set for the fleet: each MX installs the keys of the controller's vault file, so one DNS
    record per selector serves every MX (and a host added later gets the same ones)."""
    digests = {name: lab[name].run("cd /etc/dkimpy-milter/keys && sha256sum *").stdout for name in ("mx1", "mx2")}
    assert digests["mx1"] and digests["mx1"] == digests["mx2"], digests


def test_the_converge_after_the_rotation_changes_nothing(fleet):
    unchanged, recap = recap_all_unchanged(fleet["converge"]().stdout)
    assert unchanged, recap
