"""Host tests run against the lab (`lab/lab up` and a converged site.yml)."""
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from ansible_runs import SNAPSHOT  # noqa: E402
from newest_core import NewestCore  # noqa: E402
from labkit.remote import lab_hosts  # noqa: E402  (the lab package lives in lab/)


@pytest.fixture(scope="session")
def lab():
    return lab_hosts()


@pytest.fixture(scope="session")
def newest_core(lab):
    """The lab host ctl, made an Ansible controller with the newest ansible-core."""
    return NewestCore(lab["ctl"]).prepare()


@pytest.fixture(scope="session")
def mail_servers(lab):
    return [lab["mx1"], lab["mx2"]]


@pytest.fixture(scope="session")
def mailbox_host(lab):
    """Where the MX hosts relay the company's domains: every mailbox lives here."""
    return lab["mbox"]


@pytest.fixture
def marker():
    """A unique string to find one test's message on disk."""
    return f"mailforge-test-{uuid.uuid4().hex}"


@pytest.fixture
def unchanged(lab):
    """Everything the roles write on both MX hosts and the database host is byte-identical after
    the test, and mail still flows."""
    hosts = [lab[name] for name in ("mx1", "mx2", "greydb")]
    before = [host.run(SNAPSHOT).stdout for host in hosts]
    yield
    for host, old in zip(hosts, before):
        assert host.run(SNAPSHOT).stdout == old, f"{host.name}'s configuration changed"
    for name in ("mx1", "mx2"):
        transcript = lab["outside"].smtp(lab[name].address, ["EHLO outside.elsewhere.test"])
        assert transcript[-1]["code"] == 250, transcript
