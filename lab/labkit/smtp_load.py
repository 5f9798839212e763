"""A bounded SMTP load that runs ON a lab host (piped over ssh to its python3).

Reads a JSON job on stdin: {"servers": [...], "port", "sessions", "messages",
"rate" (messages per second, all sessions together), "seconds" (hard bound),
"sender", "recipient", "tag", optional "stop_file": a path on this host whose
appearance ends the load early}. Each session keeps one connection and sends
its share of the messages, paced; a refused connection, a 4xx or a dropped
session (a server restarting) is counted and the session reconnects. Each
attempt carries Message-ID <TAG-N.ATTEMPT@lab.test>. It stops by itself after the
messages, the time bound or the stop file, whichever comes first, and prints JSON:
{"accepted": ["TAG-N.ATTEMPT" answered 250 after DATA], "attempted": messages begun,
"failed": count, "errors": [a few]}.
Standard library only, because lab hosts have nothing else.
"""
import json
import os
import smtplib
import socket
import sys
import threading
import time


def stopped(job):
    return bool(job.get("stop_file")) and os.path.exists(job["stop_file"])


def session(job, index, numbers, accepted, attempted, failures, deadline):
    server = job["servers"][index % len(job["servers"])]
    interval = job["sessions"] / job["rate"]
    client = None
    for number in numbers:
        due = job["started"] + number / job["rate"]
        while time.monotonic() < min(due, deadline) and not stopped(job):
            time.sleep(min(0.05, due - time.monotonic()))
        if stopped(job) or time.monotonic() >= deadline:
            break
        attempted.append(number)
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            # A retry is a new message: the server may have queued an attempt
            # whose 250 never arrived, and that must not look like a duplicate.
            name = f"{job['tag']}-{number}.{attempt}"
            try:
                if client is None:
                    client = smtplib.SMTP(server, job.get("port", 25), timeout=10)
                    client.ehlo(job["helo"])
                text = (f"From: <{job['sender']}>\r\nTo: <{job['recipient']}>\r\n"
                        f"Subject: {name}\r\nMessage-ID: <{name}@lab.test>\r\n\r\n"
                        f"load {name}\r\n")
                client.sendmail(job["sender"], [job["recipient"]], text)
                accepted.append(name)
                break
            except (smtplib.SMTPException, OSError) as error:
                failures.append(f"{server} #{number}: {type(error).__name__}: {error}"[:200])
                try:
                    if client is not None:
                        client.close()
                except OSError:
                    pass
                client = None
                time.sleep(min(interval, 0.5))
    if client is not None:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass


def run(job):
    socket.setdefaulttimeout(10)
    job["started"] = time.monotonic()
    deadline = job["started"] + job["seconds"]
    accepted, attempted, failures = [], [], []
    threads = [threading.Thread(target=session, args=(job, index, range(index, job["messages"], job["sessions"]),
                                                      accepted, attempted, failures, deadline))
               for index in range(job["sessions"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"accepted": sorted(accepted), "attempted": len(attempted), "failed": len(failures), "errors": failures[:10],
            "seconds": round(time.monotonic() - job["started"], 1)}


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
