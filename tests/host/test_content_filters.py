"""Handbook 11.1.3 header and body checks, seen by a real SMTP client outside mynetworks."""
import pytest

from ansible_runs import refused_on_both_mx
from labkit.remote import last_reply


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


def send(lab, mx, headers, body):
    outside = lab["outside"]
    text = "From: <someone@elsewhere.test>\nTo: <jean@falcot.test>\n" + headers + "\n" + body
    return outside.smtp(mx.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<someone@elsewhere.test>",
                                     "RCPT TO:<jean@falcot.test>", {"data": text}])


def test_header_reject_rule_returns_its_text(lab, mx, marker):
    transcript = send(lab, mx, f"Subject: {marker}\nX-Mailer: GOTO Sarbacane 4.2\n", "hello\n")
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "<message>", transcript
    assert code == 550 and "I fight spam (GOTO Sarbacane)" in text, transcript


def test_body_reject_rule_returns_its_text(lab, mx, marker):
    transcript = send(lab, mx, f"Subject: {marker}\n",
                      "hello\n<iframe src=3Dcid:evil height=3D0 width=3D0>\n")
    code, text = last_reply(transcript)
    assert transcript[-1]["send"] == "<message>", transcript
    assert code == 550 and "I fight spam" in text, transcript


def test_header_discard_rule_accepts_and_drops_silently(lab, mx, mailbox_host, marker):
    discarded = send(lab, mx, f"Subject: Your email contains VIRUSES {marker}\n", "report\n")
    assert last_reply(discarded)[0] == 250, discarded
    # A plain message sent afterwards arrives; by then the first would have too.
    control = f"{marker}-control"
    assert last_reply(send(lab, mx, f"Subject: {control}\n", "hello\n"))[0] == 250
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", control)
    assert mailbox_host.run(f"grep -cF {marker}-control /var/mail/jean").stdout.strip() == "1"
    assert mailbox_host.run(f"grep -F 'VIRUSES {marker}' /var/mail/jean", check=False).returncode == 1
    log = mx.run(f"journalctl -u 'postfix*' --no-pager -o cat | grep -F 'VIRUSES {marker}'", check=False).stdout
    assert "discard: header Subject: Your email contains VIRUSES" in log and "virus notification" in log, log


def test_clean_message_is_delivered(lab, mx, mailbox_host, marker):
    assert last_reply(send(lab, mx, f"Subject: {marker}\nX-Mailer: mutt\n", "hello\n"))[0] == 250
    assert mailbox_host.wait_for_file_containing("/var/mail/jean", marker)


@pytest.mark.parametrize("extra_vars, culprits", [
    ({"content_filters_header_checks": [{"pattern": "/^Subject: ok/", "action": "WARN ok"},
                                        {"pattern": "/^Subject: (unclosed/", "action": "REJECT x"}]},
     ["rule 2", "(unclosed"]),
    ({"content_filters_body_checks": [{"pattern": "/casino/", "action": "REJEKT no"}]},
     ["rule 1 (/casino/)", "REJEKT"]),
    ({"content_filters_header_checks": [{"pattern": "no delimiters", "action": "REJECT x"}]},
     ["no delimiters"]),
    ({"content_filters_header_checks": [{"pattern": "/a/", "action": "WARN"}, {"pattern": "/a/", "action": "DISCARD"}]},
     ["/a/", "listed twice"]),
])
def test_bad_rules_are_refused_and_nothing_changes(extra_vars, culprits, unchanged):
    refused_on_both_mx(extra_vars, *culprits)
