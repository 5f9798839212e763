"""The fleet as the newest ansible-core sees it, from the installed collection.

Molecule converged the fleet with this machine's ansible-core from the
checkout. Here the built collection is installed on the lab host ctl into an
empty collections path and run there with the newest ansible-core (Python 3.13,
a virtualenv holding nothing else: newest_core.py), from a folder that has
only an empty ansible.cfg and a copy of the lab inventory. It must agree with
the checkout's run: nothing to change, nothing deprecated. (test_single_server
converges solo13 from scratch with the newest core, from the checkout.)
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_runs import TOP, recap_all_unchanged

MODULES = sorted(path.stem for path in (TOP / "modules").glob("*.py"))
# Lines in which Ansible says a role or playbook leans on something going away.
DEPRECATED = re.compile(r"\[DEPRECATION WARNING\]|deprecated", re.IGNORECASE)


@pytest.fixture(scope="module")
def collection_user(newest_core, tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, str(TOP / "scripts/build-collection"), str(dist)],
                           capture_output=True, text=True, check=True)
    return newest_core.install_collection(Path(built.stdout.strip()), TOP / "inventory" / "lab")


def test_the_installed_collection_finds_the_converged_fleet_unchanged(collection_user):
    run = collection_user("ansible-playbook", "-i", "lab", "mailforge.postfix.site")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    unchanged, recap = recap_all_unchanged(run.stdout)
    assert unchanged, recap
    for host in ("mx1", "mx2", "mbox", "greydb"):
        assert re.search(rf"^{host}\s+: ok=[1-9]", recap, re.MULTILINE), f"{host} not run:\n{recap}"
    assert not [line for line in output.splitlines() if DEPRECATED.search(line)], output[-4000:]


def test_every_module_doc_renders_from_the_installed_copy(collection_user):
    for module in MODULES:
        shown = collection_user("ansible-doc", f"mailforge.postfix.{module}")
        assert shown.returncode == 0, shown.stderr
        assert f"> MODULE mailforge.postfix.{module} (/root/collection-user/collections/ansible_collections/" \
               f"mailforge/postfix/plugins/modules/{module}.py)" in shown.stdout, shown.stdout[:500]
