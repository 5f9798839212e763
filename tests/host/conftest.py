"""Host tests run against the lab (`lab/lab up` and a converged site.yml)."""
import uuid

import pytest

from lab_hosts import lab_hosts


@pytest.fixture(scope="session")
def lab():
    return lab_hosts()


@pytest.fixture(scope="session")
def mail_servers(lab):
    return [lab["mx1"], lab["mx2"]]


@pytest.fixture
def marker():
    """A unique string to find one test's message on disk."""
    return f"mailforge-test-{uuid.uuid4().hex}"
