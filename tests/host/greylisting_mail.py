"""Messages to the lab's greylisted and class-checked addresses, and the replies tests look at."""
import uuid

# In the lab's "greylisting" restriction class (inventory/lab/group_vars/mail_servers.yml).
GREYLISTED = "greylisted@falcot.test"
LAB_DELAY = 5     # greylisting_delay of the lab, in seconds


def new_sender():
    """A sender never seen before, so that every test makes a new greylisting triplet."""
    return f"s{uuid.uuid4().hex[:12]}@elsewhere.test"


def send_mail(client, mx, recipient, marker, mail_from):
    """One message from ``client`` to ``recipient`` through ``mx``; the SMTP transcript."""
    text = f"From: <{mail_from}>\nTo: <{recipient}>\nSubject: {marker}\nMessage-ID: <{marker}@lab.test>\n\n{marker}\n"
    return client.smtp(mx.address, [f"EHLO {client.fqdn}", f"MAIL FROM:<{mail_from}>", f"RCPT TO:<{recipient}>",
                                    {"data": text}])


def rcpt_reply(transcript):
    """The reply to RCPT TO (the dialogue stops at the first refusal)."""
    replies = [step for step in transcript if (step["send"] or "").startswith("RCPT TO")]
    assert replies, transcript
    return replies[0]["code"], replies[0]["text"]
