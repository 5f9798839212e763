"""A real SMTP client that runs ON a lab host (piped over ssh to its python3).

Reads a JSON dialogue on stdin, speaks it to the server and prints a JSON
transcript: one {"send", "code", "text"} per step. Stops after the first reply
of 400 or more unless the step says "continue". Standard library only, because
lab hosts have nothing else.

A step is a command line ("MAIL FROM:<a@b.test>"), "STARTTLS", or
{"data": "message text"} which sends DATA, the message and the final dot.
{"starttls": "TLSv1_1"} offers only that TLS version (a name of ssl.TLSVersion,
at OpenSSL security level 0, so that old versions can be offered at all); its
step records the version agreed ("tls") or why the handshake failed
("tls_error"), and a failed handshake ends the dialogue.

A connection that fails (refused, unreachable, timed out; "timeout" seconds,
30 by default) is one step, {"send": "CONNECT", "code": null, "text": the
error, "error": its class name such as "ConnectionRefusedError"}, and ends the
dialogue.

A dialogue with "burst" instead of "steps" sends those lines all at once,
right after connecting and before the greeting arrives, the way a spam bot
ignores the protocol; it then collects every reply until the server closes
the connection or stays silent for a few seconds.
"""
import json
import smtplib
import socket
import ssl
import sys
import time


def burst(dialogue):
    replies, buffer = [], b""
    with socket.create_connection((dialogue["server"], dialogue.get("port", 25)), timeout=5) as sock:
        sock.sendall("".join(line + "\r\n" for line in dialogue["burst"]).encode())
        deadline = time.monotonic() + dialogue.get("timeout", 30)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            buffer += chunk
    for line in buffer.decode(errors="replace").splitlines():
        if len(line) >= 3 and line[:3].isdigit():
            replies.append({"send": None, "code": int(line[:3]), "text": line[4:]})
    return replies


def only_version_starttls(client, version_name):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    version = ssl.TLSVersion[version_name]
    context.minimum_version = context.maximum_version = version
    code, text = client.docmd("STARTTLS")
    entry = {"send": "STARTTLS", "code": code, "text": text.decode(), "tls": None}
    if code != 220:
        entry["tls_error"] = "no TLS offered"
        return entry
    try:
        client.sock = context.wrap_socket(client.sock, server_hostname=client._host)
    except (ssl.SSLError, OSError) as error:
        entry["tls_error"] = str(error)
        return entry
    client.file = None
    client.helo_resp = client.ehlo_resp = None
    client.esmtp_features = {}
    client.does_esmtp = False
    entry["tls"] = client.sock.version()
    return entry


def run(dialogue):
    if "burst" in dialogue:
        return burst(dialogue)
    transcript = []
    client = smtplib.SMTP(timeout=dialogue.get("timeout", 30))
    try:
        code, text = client.connect(dialogue["server"], dialogue.get("port", 25))
    except OSError as error:
        return [{"send": "CONNECT", "code": None, "text": str(error), "error": type(error).__name__}]
    # starttls() names the server from _host, which only the constructor sets.
    client._host = dialogue["server"]
    transcript.append({"send": None, "code": code, "text": text.decode()})
    for step in dialogue["steps"]:
        keep_going = isinstance(step, dict) and step.get("continue", False)
        if isinstance(step, dict) and "data" in step:
            code, text = client.docmd("DATA")
            transcript.append({"send": "DATA", "code": code, "text": text.decode()})
            if code != 354:
                break
            body = step["data"].replace("\r\n", "\n").replace("\n", "\r\n")
            client.send(smtplib.quotedata(body).encode() + b"\r\n.\r\n")
            code, text = client.getreply()
            transcript.append({"send": "<message>", "code": code, "text": text.decode()})
        elif step == "STARTTLS":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            code, text = client.starttls(context=context)
            transcript.append({"send": step, "code": code, "text": text.decode()})
        elif isinstance(step, dict) and "starttls" in step:
            entry = only_version_starttls(client, step["starttls"])
            transcript.append(entry)
            if entry["tls"] is None:
                client.close()
                return transcript
            code = entry["code"]
        else:
            line = step["send"] if isinstance(step, dict) else step
            code, text = client.docmd(line)
            transcript.append({"send": line, "code": code, "text": text.decode()})
        if code >= 400 and not keep_going:
            break
    try:
        client.quit()
    except OSError:     # smtplib's errors too; the transcript is complete (a ban may drop QUIT)
        pass
    return transcript


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
