"""Shows, with real SMTP between lab hosts, that the converged fleet handles mail
as the Handbook describes. Exits non-zero if any step does not hold."""
import base64
import os
import re
import shlex
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

from labkit.remote import lab_hosts, last_reply  # noqa: E402


# The headers of the last message in a mailbox file holding a subject, unfolded.
HEADERS = ("import mailbox, sys\nbox = mailbox.mbox(sys.argv[1])\n"
           "found = [box[key] for key in box.keys() if box[key]['Subject'] == sys.argv[2]]\n"
           "print(''.join(f'{name}: {\" \".join(str(value).split())}\\n' for name, value in found[-1].items())"
           " if found else '')\n")


def send(client, server, sender, recipient, subject):
    body = f"From: <{sender}>\nTo: <{recipient}>\nSubject: {subject}\n\nSent by the mailforge demo.\n"
    return client.smtp(server.address, [f"EHLO {client.fqdn}", f"MAIL FROM:<{sender}>",
                                        f"RCPT TO:<{recipient}>", {"data": body}])


def main():
    lab = lab_hosts()
    mx1, mx2, mbox, office, outside = lab["mx1"], lab["mx2"], lab["mbox"], lab["office"], lab["outside"]
    failures = 0

    def check(ok, text):
        nonlocal failures
        failures += not ok
        print(f"  [{'ok' if ok else 'FAILED'}] {text}")

    print("Proof that mail flows:")
    subject = f"demo-{uuid.uuid4().hex[:12]}"
    for mx in (mx1, mx2):
        code, text = last_reply(send(outside, mx, "friend@elsewhere.test", "postmaster@falcot.test", subject))
        check(code == 250, f"outside -> {mx.name} (MX of falcot.test), to postmaster@falcot.test: {code} {text}")
    delivered = mbox.wait_for_file_containing("/var/mail/root", subject)
    count = int(mbox.run(f"grep -c 'Subject: {subject}' /var/mail/root", check=False).stdout.strip() or 0)
    check(delivered and count == 2, "both relayed to the mailbox host: 2 copies in mbox:/var/mail/root "
          f"(postmaster alias), found {count}")
    if delivered:
        headers = mbox.run(f"grep -B30 'Subject: {subject}' /var/mail/root | grep -E '^Received: from|^\\s+by '"
                           ).stdout
        print("    " + headers.strip().replace("\n", "\n    "))

    code, text = last_reply(outside.smtp(mx1.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<x@elsewhere.test>",
                                                       "RCPT TO:<nobody@falcot.test>"]))
    check(code == 550, f"outside -> mx1, unknown recipient refused at RCPT by the MX: {code} {text}")
    code, text = last_reply(outside.smtp(mbox.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<x@elsewhere.test>",
                                                        "RCPT TO:<jean@falcot.test>"]))
    check(code == 554, f"outside -> mbox directly (skipping the MX hosts) refused: {code} {text}")

    subject = f"demo-{uuid.uuid4().hex[:12]}"
    code, text = last_reply(send(office, mx1, "postmaster@falcot.test", f"postmaster@{mx2.fqdn}", subject))
    check(code == 250, f"office -> mx1 -> (DNS MX) -> mx2, to postmaster@{mx2.fqdn}: {code} {text}")
    check(mx2.wait_for_file_containing("/var/mail/root", subject), "delivered into mx2:/var/mail/root")
    # mx1 signed it (office is in mynetworks); mx2, to which mx1 is a stranger, verified it.
    delivered_headers = mx2.run(f"python3 -c {shlex.quote(HEADERS)} /var/mail/root {subject}").stdout
    signature = re.search(r"^DKIM-Signature:.*?\bd=falcot\.test;.*?\bs=([\w-]+);", delivered_headers, re.M | re.S)
    verdict = re.search(r"^Authentication-Results: mx2\.falcot\.test;.*?dkim=(\w+)", delivered_headers, re.M | re.S)
    check(bool(signature) and bool(verdict) and verdict.group(1) == "pass",
          f"signed by mx1 with the fleet's DKIM key (selector {signature.group(1) if signature else 'none'}), "
          f"verified by mx2: dkim={verdict.group(1) if verdict else 'none'}")

    code, text = last_reply(outside.smtp(mx1.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<x@elsewhere.test>",
                                                       "RCPT TO:<victim@foreign.test>"]))
    check(code == 554 and "Relay access denied" in text, f"outside -> mx1, relay to foreign.test refused: {code} {text}")

    subject = f"demo-{uuid.uuid4().hex[:12]}"
    code, text = last_reply(send(outside, mx1, "friend@elsewhere.test", "anna@partners.falcot.test", subject))
    check(code == 250, f"outside -> mx1, to the virtual mailbox anna@partners.falcot.test: {code} {text}")
    check(mbox.wait_for_file_containing("/var/mail/vhosts/partners.falcot.test/anna/new", subject),
          "delivered as a maildir file under mbox:/var/mail/vhosts/partners.falcot.test/anna/new")

    eicar = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
    attachment = base64.encodebytes(eicar).decode()
    infected = ("From: <friend@elsewhere.test>\nTo: <anna@partners.falcot.test>\nSubject: virus\n"
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
                "see attachment\n--b\nContent-Type: application/octet-stream; name=eicar.com\n"
                f"Content-Transfer-Encoding: base64\n\n{attachment}--b--\n")
    code, text = last_reply(outside.smtp(mx1.address, [f"EHLO {outside.fqdn}", "MAIL FROM:<friend@elsewhere.test>",
                                                       "RCPT TO:<anna@partners.falcot.test>", {"data": infected}]))
    check(code == 550 and "EICAR" in text, f"outside -> mx1, EICAR attachment rejected by ClamAV: {code} {text}")

    # greylisted@falcot.test is in the lab's "greylisting" restriction class.
    subject, sender = f"demo-{uuid.uuid4().hex[:12]}", f"grey-{uuid.uuid4().hex[:8]}@elsewhere.test"
    transcript = send(outside, mx1, sender, "greylisted@falcot.test", subject)
    code, text = last_reply(transcript)
    check(code == 450 and "Greylisted" in text, f"outside -> mx1, to greylisted@falcot.test, first try: {code} {text}")
    time.sleep(6)   # the lab's greylisting_delay is 5 s
    code, text = last_reply(send(outside, mx1, sender, "greylisted@falcot.test", subject))
    check(code == 250, f"the same sender retries 6 s later: {code} {text}")

    credentials = os.environ.get("MAILFORGE_DEMO_SASL")
    if credentials:
        user, password = credentials.split(":", 1)
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        transcript = outside.smtp(mx2.address, [f"EHLO {outside.fqdn}", "STARTTLS", f"EHLO {outside.fqdn}",
                                                f"AUTH PLAIN {token}", "MAIL FROM:<demo@falcot.test>",
                                                "RCPT TO:<friend@elsewhere.test>"], port=587)
        codes = [step["code"] for step in transcript]
        check(235 in codes and codes[-1] == 250,
              f"outside -> mx2:587, STARTTLS, AUTH PLAIN as {user} (rolled out by playbooks/sasl_users.yml), "
              f"relay to elsewhere.test: {' '.join(map(str, codes[4:]))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
