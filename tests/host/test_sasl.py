"""Handbook 11.1.7: SASL users rolled out with playbooks/sasl_users.yml, used by a real SMTP client.

The fixture rolls two users out once; each test that changes them (a password
change, a revocation, a re-run) first puts the fleet back to those two users,
so the tests pass in any order.
"""
import base64
import os
import secrets
import subprocess

import pytest
import yaml

from ansible_runs import TOP, ansible, failed_with, module_call
from labkit.remote import last_reply
from secret_search import files_holding

VAULT = str(TOP / ".venv/bin/ansible-vault")
PLAYBOOK = str(TOP / ".venv/bin/ansible-playbook")


def vault_password_file(workdir):
    """A random vault password in a 0600 file, as an admin keeps one."""
    path = workdir / "vault-pass"
    path.write_text(secrets.token_hex(16))
    path.chmod(0o600)
    return path


def vaulted_users_file(workdir, vault_password, content):
    """A SASL users file with ``content``, encrypted with ansible-vault."""
    path = workdir / "sasl_users.vault.yml"
    path.write_text(yaml.safe_dump(content))
    # This file's own password alone: with the lab's (ANSIBLE_VAULT_PASSWORD_FILE, set by Molecule)
    # as a second default vault id, ansible-vault refuses to choose one to encrypt with.
    environment = {name: value for name, value in os.environ.items() if name != "ANSIBLE_VAULT_PASSWORD_FILE"}
    subprocess.run([VAULT, "encrypt", "--vault-password-file", str(vault_password), str(path)],
                   check=True, capture_output=True, env=environment)
    return path


@pytest.fixture(scope="module")
def fleet_users(tmp_path_factory):
    """Rolls a users file out like an admin would: vault-encrypted, through the playbook."""
    workdir = tmp_path_factory.mktemp("sasl")
    vault_password = vault_password_file(workdir)
    passwords = {"alice": "A-" + secrets.token_urlsafe(12), "bob": "B-" + secrets.token_urlsafe(12)}
    outputs = []

    used = set()     # every password rolled out, for the leak test

    def rollout(users, exclusive=False):
        used.update(user["password"] for user in users if user.get("password"))
        users_file = vaulted_users_file(workdir, vault_password,
                                        {"sasl_users": users, "sasl_users_exclusive": exclusive})
        result = ansible([PLAYBOOK, "playbooks/sasl_users.yml", "--vault-password-file", str(vault_password),
                          "-e", f"sasl_users_file={users_file}"])
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stdout[-3000:]
        return result

    def known_users():
        """Back to alice and bob with their first passwords, and nobody else."""
        return rollout([{"name": name, "password": pw} for name, pw in passwords.items()], exclusive=True)

    rollout([], exclusive=True)     # a known start: no users anywhere
    state = {"rollout": rollout, "passwords": passwords, "outputs": outputs, "known_users": known_users, "used": used,
             "first": rollout([{"name": name, "password": pw} for name, pw in passwords.items()])}
    return state


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def submission(lab, mx, *steps, tls=True, port=587, client="outside"):
    sender = lab[client]
    start = [f"EHLO {sender.fqdn}"] + (["STARTTLS", f"EHLO {sender.fqdn}"] if tls else [])
    return sender.smtp(mx.address, start + list(steps), port=port)


def plain(user, password):
    return "AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def login(user, password):
    return ["AUTH LOGIN", base64.b64encode(user.encode()).decode(), base64.b64encode(password.encode()).decode()]


def relay_steps(sender):
    return [f"MAIL FROM:<{sender}>", "RCPT TO:<friend@elsewhere.test>"]


def test_first_rollout_adds_every_user_on_every_mx(fleet_users):
    output = fleet_users["first"].stdout
    assert output.count("2 added, 0 changed, 0 removed") == 2, output[-2000:]


def test_rolled_out_user_authenticates_with_plain_and_relays(lab, mx, fleet_users):
    transcript = submission(lab, mx, plain("alice", fleet_users["passwords"]["alice"]), *relay_steps("alice@falcot.test"))
    codes = [step["code"] for step in transcript]
    assert 235 in codes and codes[-1] == 250, transcript


def test_rolled_out_user_authenticates_with_login(lab, mx, fleet_users):
    transcript = submission(lab, mx, *login("bob", fleet_users["passwords"]["bob"]), *relay_steps("bob@falcot.test"))
    codes = [step["code"] for step in transcript]
    assert 235 in codes and codes[-1] == 250, transcript


def test_wrong_password_is_refused(lab, mx, fleet_users):
    code, text = last_reply(submission(lab, mx, plain("alice", "not-" + fleet_users["passwords"]["alice"])))
    assert code == 535, text


@pytest.mark.parametrize("port", [25, 587])
def test_auth_is_offered_only_after_starttls(lab, mx, port):
    before = submission(lab, mx, tls=False, port=port)
    after = submission(lab, mx, port=port)
    assert before[-1]["send"] == "EHLO outside.elsewhere.test" and before[-1]["code"] == 250, before
    assert "AUTH" not in before[-1]["text"] and "STARTTLS" in before[-1]["text"], before
    assert after[-1]["send"] == "EHLO outside.elsewhere.test" and after[-1]["code"] == 250, after
    assert "AUTH PLAIN LOGIN" in after[-1]["text"] or "AUTH LOGIN PLAIN" in after[-1]["text"], after


def handshake(lab, mx, port, version):
    """STARTTLS offering only ``version``: (the STARTTLS step, the whole transcript)."""
    outside = lab["outside"]
    transcript = outside.smtp(mx.address, [f"EHLO {outside.fqdn}", {"starttls": version}, f"EHLO {outside.fqdn}"],
                              port=port)
    steps = [step for step in transcript if step["send"] == "STARTTLS"]
    assert steps and steps[0]["code"] == 220, transcript
    return steps[0], transcript


@pytest.mark.parametrize("version, agreed", [("TLSv1_1", None), ("TLSv1_2", "TLSv1.2"), ("TLSv1_3", "TLSv1.3")])
def test_submission_takes_tls_1_2_or_newer_only(lab, mx, version, agreed):
    step, transcript = handshake(lab, mx, 587, version)
    assert step["tls"] == agreed, transcript
    if agreed:
        assert transcript[-1]["send"] == "EHLO outside.elsewhere.test" and transcript[-1]["code"] == 250, transcript
    else:
        assert "PROTOCOL_VERSION" in step["tls_error"].upper() or "UNSUPPORTED_PROTOCOL" in step["tls_error"].upper(), \
            step


def test_port_25_stays_opportunistic_for_old_tls(lab, mx):
    """A sender on port 25 that only speaks TLS 1.1 still gets TLS, not plain text (TLS_README)."""
    step, transcript = handshake(lab, mx, 25, "TLSv1_1")
    assert step["tls"] == "TLSv1.1", transcript


def test_repeated_auth_is_throttled_and_logged(lab, mx):
    """Guessing passwords on 587: after the limit, AUTH gets 450 and the log names the client.

    From noptr, which no other test logs in from: anvil counts per client
    address and service over a minute, so a rerun within a minute starts throttled.
    """
    client = lab["noptr"]
    limit = int(mx.run("postconf -h smtpd_client_auth_rate_limit").stdout)
    assert limit > 0, "no AUTH rate limit on the host"
    cursor = mx.journal_cursor()
    guesses = [{"send": plain("alice", f"guess-{number}"), "continue": True} for number in range(limit + 1)]
    transcript = submission(lab, mx, *guesses, client="noptr")
    auths = [step for step in transcript if (step["send"] or "").startswith("AUTH")]
    assert [step["code"] for step in auths] == [535] * limit + [450], transcript
    assert "too many AUTH commands" in auths[-1]["text"], auths[-1]
    mx.wait_for_journal(cursor, "AUTH command rate limit exceeded", f"[{client.address}]", "service submission")


def test_relay_without_auth_is_refused(lab, mx):
    without_tls = submission(lab, mx, *relay_steps("someone@elsewhere.test"), tls=False)
    assert without_tls[-1]["send"] == "MAIL FROM:<someone@elsewhere.test>", without_tls
    assert last_reply(without_tls) == (530, "5.7.0 Must issue a STARTTLS command first"), without_tls
    with_tls = submission(lab, mx, *relay_steps("someone@elsewhere.test"))
    assert with_tls[-1]["send"] == "RCPT TO:<friend@elsewhere.test>", with_tls
    assert last_reply(with_tls) == (554, "5.7.1 <outside.elsewhere.test[198.18.0.100]>: Client host rejected: "
                                         "Access denied"), with_tls


def test_second_rollout_changes_nothing(fleet_users):
    passwords = fleet_users["passwords"]
    result = fleet_users["rollout"]([{"name": name, "password": pw} for name, pw in passwords.items()])
    assert "changed=0" in result.stdout and "changed=1" not in result.stdout, result.stdout[-2000:]
    assert result.stdout.count("0 added, 0 changed, 0 removed, 2 unchanged") == 2


def test_password_change_takes_effect_everywhere(lab, fleet_users):
    passwords = fleet_users["passwords"]
    new = "C-" + secrets.token_urlsafe(12)
    try:
        result = fleet_users["rollout"]([{"name": "alice", "password": new},
                                         {"name": "bob", "password": passwords["bob"]}])
        assert result.stdout.count("0 added, 1 changed, 0 removed") == 2, result.stdout[-2000:]
        for name in ("mx1", "mx2"):
            assert last_reply(submission(lab, lab[name], plain("alice", passwords["alice"])))[0] == 535
            assert last_reply(submission(lab, lab[name], plain("alice", new)))[0] == 235
    finally:
        fleet_users["known_users"]()


def test_exclusive_rollout_revokes_users_not_listed(lab, fleet_users):
    passwords = fleet_users["passwords"]
    try:
        result = fleet_users["rollout"]([{"name": "alice", "password": passwords["alice"]}], exclusive=True)
        assert result.stdout.count("0 added, 0 changed, 1 removed") == 2, result.stdout[-2000:]
        for name in ("mx1", "mx2"):
            assert last_reply(submission(lab, lab[name], plain("bob", passwords["bob"])))[0] == 535
            assert last_reply(submission(lab, lab[name], plain("alice", passwords["alice"])))[0] == 235
            listed = lab[name].run("sasldblistusers2 -f /etc/sasldb2").stdout
            assert f"alice@{lab[name].fqdn}: userPassword" in listed and "bob@" not in listed, listed
    finally:
        fleet_users["known_users"]()


def test_no_password_appears_in_output_or_logs(lab, fleet_users):
    secrets_used = fleet_users["used"]
    for output in fleet_users["outputs"]:
        for password in secrets_used:
            assert password not in output
    for name in ("mx1", "mx2"):
        found = files_holding(lab[name], sorted(secrets_used))
        assert not found, f"a password is in {sorted(found)} on {name}"


def test_a_database_written_by_saslpasswd2_is_read_and_kept(lab, mx):
    # The Handbook's way first, then the module adds a user next to those.
    scratch = "/root/handbook-sasldb2"
    mx.run(f"rm -f {scratch} && for u in jean laure; do printf pw-$u | saslpasswd2 -p -c -f {scratch} "
           f"-u {mx.fqdn} $u; done")
    result = module_call("sasldb_users", {"path": scratch, "link": None, "group": "root",
                                          "users": [{"name": "sophie", "password": "pw-sophie"}]}, host=mx.name)
    assert result.returncode == 0, result.stdout[-2000:]
    listed = mx.run(f"sasldblistusers2 -f {scratch}").stdout
    assert sorted(line.split(":")[0] for line in listed.splitlines()) == [
        f"{name}@{mx.fqdn}" for name in ("jean", "laure", "sophie")], listed
    mx.run(f"rm -f {scratch}")


def corrupt_database_case(lab):
    mx1 = lab["mx1"]
    mx1.run("head -c 8192 /dev/urandom > /root/corrupt-sasldb2 && sha256sum /root/corrupt-sasldb2 > /root/corrupt.sum")
    result = module_call("sasldb_users", {"path": "/root/corrupt-sasldb2", "link": None,
                                          "users": [{"name": "carol", "password": "x-secret-1"}]})
    assert mx1.run("sha256sum -c /root/corrupt.sum", check=False).returncode == 0, "corrupt database was touched"
    return result


@pytest.mark.parametrize("case, culprits", [
    (lambda lab: module_call("sasldb_users", {"users": [{"name": "carol", "password": ""}]}), ["carol", "empty"]),
    (lambda lab: module_call("sasldb_users", {"users": [{"name": "car ol", "password": "x-secret-1"}]}),
     ["car ol"]),
    (lambda lab: module_call("sasldb_users", {"users": [{"name": "carol@evil", "password": "x-secret-1"}]}),
     ["carol@evil"]),
    (corrupt_database_case, ["/root/corrupt-sasldb2"]),
])
def test_bad_input_is_refused_and_the_database_untouched(lab, case, culprits, fleet_users, unchanged):
    before = lab["mx1"].run("sha256sum /var/spool/postfix/etc/sasldb2").stdout
    failed_with(case(lab), *culprits)
    assert lab["mx1"].run("sha256sum /var/spool/postfix/etc/sasldb2").stdout == before


@pytest.mark.parametrize("users_file, culprit", [
    ({"sasl_users": [{"name": "carol", "password": ""}]}, "password must be a non-empty string"),
    ({"sasl_users": [{"name": "carol", "password": "x-secret-2"}], "sasl_users_exclusiv": True},
     "unknown key(s) sasl_users_exclusiv"),
])
def test_bad_users_file_through_the_playbook_changes_nothing(lab, tmp_path, fleet_users, users_file, culprit):
    path = tmp_path / "users.yml"
    path.write_text(yaml.safe_dump(users_file))
    before = {name: lab[name].run("sha256sum /var/spool/postfix/etc/sasldb2").stdout for name in ("mx1", "mx2")}
    result = ansible([PLAYBOOK, "playbooks/sasl_users.yml", "-e", f"sasl_users_file={path}"])
    output = result.stdout + result.stderr
    assert result.returncode != 0 and culprit in output, output[-3000:]
    assert "x-secret-2" not in output
    assert before == {name: lab[name].run("sha256sum /var/spool/postfix/etc/sasldb2").stdout for name in ("mx1", "mx2")}
