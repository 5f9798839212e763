"""Secrets never show (issue 12 point 7): not in verbose, check or diff output, nor on a host.

The secrets are SASL passwords rolled out here, from a vault-encrypted users
file, and the greylisting database's password (fleet-mode greylisting). The
runs that could show them: site.yml and playbooks/sasl_users.yml with
``--check --diff -vvv``, a real rollout with ``--diff -vvv``, and failing runs
of both (bad input). Then every lab mail host and the database host are
searched: the journal, /var/log, /tmp, /root and /etc. A search that fails, or
output too short to be a real run, fails the test rather than passing it.
"""
import secrets
import shlex
from pathlib import Path

import pytest

from ansible_runs import TOP, ansible
from secret_search import LAB_SECRETS, files_holding
from test_sasl import vault_password_file, vaulted_users_file

PLAYBOOK = str(TOP / ".venv/bin/ansible-playbook")
DATABASE_PASSWORD = LAB_SECRETS / "greylist-db"   # inventory/lab/group_vars/all.yml
FLEET = '{"greylisting_backend": "sqlgrey", "greylisting_whitelist_recipients": []}'
# Where a secret is meant to be kept on a host: sqlgrey's own configuration
# (0640 root:sqlgrey) holds the database password. The SASL database, which
# holds the SASL passwords, lives under /var/spool (linked from /etc, a link
# grep -r does not follow).
STORED = {"/etc/sqlgrey/sqlgrey.conf"}
HOSTS = ("mx1", "mx2", "mbox", "greydb")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("secrets")
    vault = str(vault_password_file(workdir))
    users = {f"leak{index}-{secrets.token_hex(3)}": f"Pw-{secrets.token_urlsafe(16)}" for index in range(2)}
    users_file = vaulted_users_file(workdir, Path(vault), {"sasl_users": [
        {"name": name, "password": password} for name, password in users.items()]})
    bad_users_dir = workdir / "bad"
    bad_users_dir.mkdir()
    bad_password = f"Pw-{secrets.token_urlsafe(16)}"
    bad_users_file = vaulted_users_file(bad_users_dir, Path(vault), {"sasl_users": [
        {"name": "not a name", "password": bad_password}]})
    sasl = [PLAYBOOK, "playbooks/sasl_users.yml", "--vault-password-file", vault]
    site = [PLAYBOOK, "site.yml"]
    outputs = {}
    for title, argv, succeeds in [
        ("sasl_users.yml --check --diff -vvv", sasl + ["--check", "--diff", "-vvv", "-e", f"sasl_users_file={users_file}"], True),
        ("sasl_users.yml --diff -vvv", sasl + ["--diff", "-vvv", "-e", f"sasl_users_file={users_file}"], True),
        ("sasl_users.yml -vvv, bad user name", sasl + ["-vvv", "-e", f"sasl_users_file={bad_users_file}"], False),
        ("site.yml --check --diff -vvv", site + ["--check", "--diff", "-vvv"], True),
        ("site.yml --check --diff -vvv, fleet greylisting", site + ["--check", "--diff", "-vvv", "-e", FLEET], True),
        ("site.yml -vvv, fleet greylisting with the database unreachable",
         site + ["-vvv", "--limit", "mx1", "-e", FLEET, "-e", "greylisting_sql_port=5999"], False),
    ]:
        result = ansible(argv)
        output = result.stdout + result.stderr
        assert (result.returncode == 0) == succeeds, f"{title}:\n{output[-3000:]}"
        outputs[title] = output
    yield {"outputs": outputs, "secrets": [*users.values(), bad_password, DATABASE_PASSWORD.read_text().strip()]}
    removed = vaulted_users_file(workdir, Path(vault), {"sasl_users": [{"name": name, "state": "absent"}
                                                                       for name in users]})
    assert ansible(sasl + ["-e", f"sasl_users_file={removed}"]).returncode == 0


def test_the_secrets_are_real(runs):
    assert len(runs["secrets"]) == 4 and all(len(secret) >= 16 for secret in runs["secrets"]), "empty secret"


@pytest.mark.parametrize("title", [
    "sasl_users.yml --check --diff -vvv", "sasl_users.yml --diff -vvv", "sasl_users.yml -vvv, bad user name",
    "site.yml --check --diff -vvv", "site.yml --check --diff -vvv, fleet greylisting",
    "site.yml -vvv, fleet greylisting with the database unreachable"])
def test_no_secret_in_the_output(runs, title):
    output = runs["outputs"][title]
    # A real verbose run prints its tasks and their arguments; anything short is not one.
    assert len(output) > 5000 and "PLAY RECAP" in output, output[-2000:]
    shown = [index for index, secret in enumerate(runs["secrets"]) if secret in output]
    assert not shown, f"{title}: secret(s) {shown} in the output"


@pytest.mark.parametrize("name", HOSTS)
def test_no_secret_on_the_host(lab, runs, name):
    host = lab[name]
    leaked = files_holding(host, runs["secrets"]) - STORED
    assert not leaked, f"{name}: a secret is in {sorted(leaked)}"
    for path in files_holding(host, runs["secrets"][-1:]) & STORED:
        mode = host.run(f"stat -c '%a %U:%G' {shlex.quote(path)}").stdout.strip()
        assert mode == "640 root:sqlgrey", f"{name}: {path} holds the database password with mode {mode}"
