"""Mail from the Internet client `outside` to the company's addresses, and bounded waits for what follows."""
import json
import time

import pytest

SENDER = "someone@elsewhere.test"


def message(marker, recipient):
    return (f"From: <{SENDER}>\nTo: <{recipient}>\nSubject: {marker}\n"
            f"Message-ID: <{marker}@lab.test>\n\nbody {marker}\n")


def send(lab, server, recipient, marker):
    """One message to ``recipient`` through ``server``; the SMTP transcript."""
    outside = lab["outside"]
    return outside.smtp(server.address, [f"EHLO {outside.fqdn}", f"MAIL FROM:<{SENDER}>",
                                         f"RCPT TO:<{recipient}>", {"data": message(marker, recipient)}])


def rcpt(lab, server, recipient):
    """The dialogue up to RCPT TO ``recipient``; the SMTP transcript."""
    outside = lab["outside"]
    return outside.smtp(server.address, [f"EHLO {outside.fqdn}", f"MAIL FROM:<{SENDER}>", f"RCPT TO:<{recipient}>"])


def wait_until(condition, what, bound=60.0):
    """Polls ``condition`` until it holds; fails the test when ``bound`` seconds run out."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {bound:.0f} s: {what}")
        time.sleep(0.5)


def queue(host):
    """postqueue -j of ``host``: one dict per queued message."""
    return [json.loads(line) for line in host.run("postqueue -j").stdout.splitlines() if line.strip()]
