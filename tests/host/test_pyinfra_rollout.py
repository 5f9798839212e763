"""SASL users rolled out with pyinfra (python -m pyinfra_mailforge sasl-users) from a vault-encrypted
file, against the lab inventory, then used by a real SMTP client on port 587.

The tests run in file order: a rollout, logins, and a second rollout that changes nothing.
"""
import secrets
import subprocess
import sys

import pytest

from ansible_runs import TOP
from labkit.remote import last_reply
from labkit.run import project_ansible_env
from test_sasl import plain, submission, vault_password_file, vaulted_users_file

NAMES = ("pyinfra-carla", "pyinfra-dan")


@pytest.fixture(scope="module")
def pyinfra_users(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pyinfra-sasl")
    vault_password = vault_password_file(workdir)
    outputs = []

    def rollout(users):
        users_file = vaulted_users_file(workdir, vault_password, {"sasl_users": users})
        result = subprocess.run([sys.executable, "-m", "pyinfra_mailforge", "sasl-users", "--inventory",
                                 "inventory/lab", "--hosts", "mx_hosts", "--users-file", str(users_file),
                                 "--vault-password-file", str(vault_password)],
                                cwd=TOP, env=project_ansible_env(), capture_output=True, text=True, timeout=600)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        return result.stdout

    passwords = {name: "P-" + secrets.token_urlsafe(12) for name in NAMES}
    rollout([{"name": name, "state": "absent"} for name in NAMES])     # a known start
    state = {"rollout": rollout, "passwords": passwords, "outputs": outputs,
             "first": rollout([{"name": name, "password": pw} for name, pw in passwords.items()])}
    yield state
    rollout([{"name": name, "state": "absent"} for name in NAMES])


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def test_first_rollout_adds_both_users_on_every_mx(pyinfra_users):
    first = pyinfra_users["first"]
    for name in ("mx1", "mx2"):
        assert f"{name}: changed: 2 added, 0 changed, 0 removed" in first, first


def test_user_rolled_out_by_pyinfra_authenticates(lab, mx, pyinfra_users):
    name = NAMES[0]
    transcript = submission(lab, mx, plain(name, pyinfra_users["passwords"][name]))
    assert last_reply(transcript)[0] == 235, transcript


def test_wrong_password_is_refused(lab, mx, pyinfra_users):
    name = NAMES[1]
    transcript = submission(lab, mx, plain(name, "not-" + pyinfra_users["passwords"][name]))
    assert last_reply(transcript)[0] == 535, transcript


def test_second_pyinfra_rollout_changes_nothing(pyinfra_users):
    again = pyinfra_users["rollout"]([{"name": name, "password": pw} for name, pw in pyinfra_users["passwords"].items()])
    assert "mx1: unchanged" in again and "mx2: unchanged" in again and "changed:" not in again, again


def test_no_password_in_pyinfra_output(pyinfra_users):
    for output in pyinfra_users["outputs"]:
        for password in pyinfra_users["passwords"].values():
            assert password not in output
