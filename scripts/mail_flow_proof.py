"""Shows, with real SMTP between lab hosts, that the converged fleet handles mail
as the Handbook describes. Exits non-zero if any step does not hold."""
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

from labkit.remote import lab_hosts, last_reply  # noqa: E402


def send(client, server, sender, recipient, subject):
    body = f"From: <{sender}>\nTo: <{recipient}>\nSubject: {subject}\n\nSent by the mailforge demo.\n"
    return client.smtp(server.address, [f"EHLO {client.fqdn}", f"MAIL FROM:<{sender}>",
                                        f"RCPT TO:<{recipient}>", {"data": body}])


def main():
    lab = lab_hosts()
    mx1, mx2, office, outside = lab["mx1"], lab["mx2"], lab["office"], lab["outside"]
    failures = 0

    def check(ok, text):
        nonlocal failures
        failures += not ok
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")

    print("Proof that mail flows:")
    subject = f"demo-{uuid.uuid4().hex[:12]}"
    code, text = last_reply(send(outside, mx1, "friend@elsewhere.test", f"postmaster@{mx1.fqdn}", subject))
    check(code == 250, f"outside -> mx1, to postmaster@{mx1.fqdn}: {code} {text}")
    check(mx1.wait_for_file_containing("/var/mail/root", subject),
          "delivered through the postmaster alias into mx1:/var/mail/root")

    subject = f"demo-{uuid.uuid4().hex[:12]}"
    code, text = last_reply(send(office, mx1, "postmaster@falcot.test", f"postmaster@{mx2.fqdn}", subject))
    check(code == 250, f"office -> mx1 -> (DNS MX) -> mx2, to postmaster@{mx2.fqdn}: {code} {text}")
    delivered = mx2.wait_for_file_containing("/var/mail/root", subject)
    check(delivered, "delivered into mx2:/var/mail/root")
    if delivered:
        headers = mx2.run(f"grep -B30 'Subject: {subject}' /var/mail/root | grep -E '^Received: from|^\\s+by '").stdout
        print("    " + headers.strip().replace("\n", "\n    "))

    code, text = last_reply(outside.smtp(mx1.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<x@elsewhere.test>",
                                                       "RCPT TO:<victim@foreign.test>"]))
    check(code == 554 and "Relay access denied" in text, f"outside -> mx1, relay to foreign.test refused: {code} {text}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
