"""No way through the MX hosts to a foreign domain: every relay vector, sender and port.

Each dialogue comes from `outside` (not in mynetworks) and lists every vector
as its own RCPT; each RCPT must be refused at that step with the text that
names why. Port 25 refuses them as relaying ("Relay access denied"); the
submission port refuses every client that has not logged in ("Access
denied"), with or without a failed AUTH first. A company recipient at the
end of each port-25 dialogue must still be accepted: the refusals are about
the vectors, not the session. Afterwards neither the MX nor the mailbox host
queues mail for the foreign domain.
"""
import base64

import pytest

from company_mail import queue

FOREIGN = "foreign.test"
LITERAL = "198.18.0.254"   # nothing in the lab answers there
VECTORS = [
    "victim@foreign.test",                     # plain foreign domain
    "victim@FOREIGN.TEST",                     # upper case
    "victim@foreign.test.",                    # trailing dot
    "victim%foreign.test@falcot.test",         # percent hack through a relayed company domain
    "victim%foreign.test@{mx}",                # ... and through the MX's own (local) domain
    "foreign.test!victim@falcot.test",         # bang path inside a company address
    "falcot.test!foreign.test!victim",         # bang path through the company domain
    "foreign.test!victim",                     # bare bang path
    "@falcot.test:victim@foreign.test",        # source route
    "victim@foreign.test@falcot.test",         # double @
    '"victim@foreign.test"@falcot.test',       # quoted local part
    f"victim@[{LITERAL}]",                     # address literal
]
SENDERS = {"foreign": "someone@elsewhere.test", "company": "jean@falcot.test", "null": ""}
# How each way in refuses: port, whether to AUTH (and fail) first, the RCPT reply.
WAYS = {
    "port 25": (25, False, "554 5.7.1 <{recipient}>: Relay access denied"),
    "587 without AUTH": (587, False, "554 5.7.1 <outside.elsewhere.test[198.18.0.100]>: Client host rejected: "
                                     "Access denied"),
    "587 after a failed AUTH": (587, True, "554 5.7.1 <outside.elsewhere.test[198.18.0.100]>: Client host "
                                           "rejected: Access denied"),
}
CONTROL = "postmaster@falcot.test"


def shown(recipient):
    """The recipient as Postfix names it in its reply: source route and quotes gone."""
    return recipient.split(":", 1)[1] if recipient.startswith("@") else recipient.replace('"', "")


@pytest.fixture(params=["mx1", "mx2"])
def mx(request, lab):
    return lab[request.param]


@pytest.mark.parametrize("sender", sorted(SENDERS))
@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_vector_is_refused_at_rcpt(lab, mx, way, sender):
    port, failed_auth, refusal = WAYS[way]
    outside = lab["outside"]
    recipients = [vector.format(mx=mx.fqdn) for vector in VECTORS]
    steps = [f"EHLO {outside.fqdn}"]
    if port == 587:
        steps += ["STARTTLS", f"EHLO {outside.fqdn}"]
    if failed_auth:
        steps.append({"send": "AUTH PLAIN " + base64.b64encode(b"\0alice\0not-her-password").decode(),
                      "continue": True})
    steps.append(f"MAIL FROM:<{SENDERS[sender]}>")
    steps += [{"send": f"RCPT TO:<{recipient}>", "continue": True} for recipient in recipients]
    if port == 25:
        steps.append(f"RCPT TO:<{CONTROL}>")
    transcript = outside.smtp(mx.address, steps, port=port)
    replies = {step["send"]: step for step in transcript}

    if failed_auth:
        auth = next(step for step in transcript if (step["send"] or "").startswith("AUTH"))
        assert auth["code"] == 535, transcript
    assert replies[f"MAIL FROM:<{SENDERS[sender]}>"]["code"] == 250, transcript
    for recipient in recipients:
        reply = replies.get(f"RCPT TO:<{recipient}>")
        assert reply, f"{recipient}: no RCPT reply\n{transcript}"
        expected = refusal.format(recipient=shown(recipient))
        assert f"{reply['code']} {reply['text']}" == expected, f"RCPT {recipient}: {reply}"
    if port == 25:
        assert replies[f"RCPT TO:<{CONTROL}>"]["code"] == 250, transcript
    for host in (mx, lab["mbox"]):
        queued = queued_recipients(host)
        assert not [address for address in queued if FOREIGN in address.lower() or LITERAL in address], \
            f"{host.name} queues mail for {queued}"


def queued_recipients(host):
    return [recipient["address"] for entry in queue(host) for recipient in entry["recipients"]]


