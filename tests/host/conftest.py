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
    """Asserts that /etc/postfix and friends are byte-identical after the test and mail still flows."""
    mx1 = lab["mx1"]
    before = mx1.run(SNAPSHOT).stdout
    yield
    assert mx1.run(SNAPSHOT).stdout == before, "the host's configuration changed"
    transcript = lab["outside"].smtp(mx1.address, ["EHLO outside.elsewhere.test"])
    assert transcript[-1]["code"] == 250, transcript
