"""Messages to the lab's greylisted and class-checked addresses, and the replies tests look at."""
import re
import time
import uuid

# In the lab's "greylisting" restriction class (inventory/lab/group_vars/mail_servers.yml).
GREYLISTED = "greylisted@falcot.test"
LAB_DELAY = 5     # greylisting_delay of the lab, in seconds


def new_sender():
    """A sender never seen before, so that every test makes a new greylisting triplet."""
    return f"s{uuid.uuid4().hex[:12]}@elsewhere.test"


def send_mail(client, mx, recipient, marker, mail_from, header_from=None):
    """One message from ``client`` to ``recipient`` through ``mx``; the SMTP transcript."""
    text = f"From: <{header_from or mail_from}>\nTo: <{recipient}>\nSubject: {marker}\nMessage-ID: <{marker}@lab.test>\n\n{marker}\n"
    return client.smtp(mx.address, [f"EHLO {client.fqdn}", f"MAIL FROM:<{mail_from}>", f"RCPT TO:<{recipient}>",
                                    {"data": text}])


def rcpt_reply(transcript):
    """The reply to RCPT TO (the dialogue stops at the first refusal)."""
    replies = [step for step in transcript if (step["send"] or "").startswith("RCPT TO")]
    assert replies, transcript
    return replies[0]["code"], replies[0]["text"]


# How each backend words its deferral: postgrey with 4.2.0, sqlgrey with 4.7.1 and the
# delay in minutes.
GREYLIST_REPLY = re.compile(r"^4\.(2\.0|7\.1) <[^>]+>: Recipient address rejected: "
                            r"Greylisted(, please try again later| for [\d.]+ minutes)$")


def greylisted(transcript):
    """True if the dialogue's RCPT got greylisting's 450, from either backend."""
    code, text = rcpt_reply(transcript)
    return code == 450 and bool(GREYLIST_REPLY.match(text))


def send_until_past_greylisting(send, bound=LAB_DELAY + 30):
    """Retry ``send()`` (a new dialogue each time) as a sending server would; the accepting transcript.

    Every refusal before that must be greylisting's 450 at RCPT: anything
    else fails at once, and so does still being greylisted ``bound`` seconds
    after the first try. Returns (transcript, seconds since the first try).
    """
    started = time.monotonic()
    while True:
        transcript = send()
        if transcript[-1]["send"] == "<message>" and transcript[-1]["code"] == 250:
            return transcript, time.monotonic() - started
        assert greylisted(transcript), transcript
        assert time.monotonic() - started < bound, f"still greylisted {bound} s after the first try: {transcript}"
        time.sleep(1)
