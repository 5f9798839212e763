"""Working on lab hosts from this machine: commands, files, SMTP dialogues.

Used by the host tests and by the demo's proof that mail flows.
"""
import json
import shlex
import subprocess
import time
from pathlib import Path

from . import fleet, hosts

PROBE = Path(__file__).with_name("smtp_probe.py")


class LabHost:
    def __init__(self, host):
        self.host = host
        self.name = host.name
        self.address = host.address
        self.fqdn = host.fqdn

    def ssh_argv(self, command):
        """The argv that runs ``command`` (a shell string) on this host as root."""
        return hosts.ssh_base(self.host) + [command]

    def run(self, command, check=True, stdin=None, timeout=120):
        argv = self.ssh_argv(command)
        result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            shown = command if len(command) < 200 else command[:200] + "..."
            raise AssertionError(f"{self.name}: {shown!r} exited {result.returncode}: {result.stderr}")
        return result

    def smtp(self, server, steps, port=25, burst=False, timeout=None):
        """Speak SMTP from this host to server; returns the transcript (list of dicts).

        With ``burst``, the steps (command lines) go out at once before the greeting.
        A connection that fails is the one step {"send": "CONNECT", "code": None,
        "error": ...}. ``timeout``: seconds for the connection and each reply (the
        probe's 30 by default).
        """
        dialogue = {"server": server, "port": port, "burst" if burst else "steps": steps}
        if timeout is not None:
            dialogue["timeout"] = timeout
        dialogue = json.dumps(dialogue)
        program = PROBE.read_text()
        # The probe's source goes in as a -c argument; the dialogue on stdin.
        result = self.run(f"python3 -c {shlex.quote(program)}", stdin=dialogue)
        return json.loads(result.stdout)

    def start_load(self, job):
        """Start lab/labkit/smtp_load.py on this host with ``job``; returns the running process.

        Read its JSON report with ``finish_load``.
        """
        program = Path(__file__).with_name("smtp_load.py").read_text()
        process = subprocess.Popen(self.ssh_argv(f"python3 -c {shlex.quote(program)}"), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        process.stdin.write(json.dumps(job))
        process.stdin.close()
        return process

    @staticmethod
    def finish_load(process, timeout):
        """The report of a load started by ``start_load``; fails if it runs past ``timeout`` seconds."""
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"the load ran past {timeout} s") from None
        output, errors = process.stdout.read(), process.stderr.read()
        assert process.returncode == 0, f"the load failed ({process.returncode}): {errors[-2000:]}"
        return json.loads(output)

    def start_unit(self, unit, check=True):
        """``systemctl start`` of one or more units, then is-active (which ``check`` asserts).

        Inside the lab's containers a unit started right after a stop can fail
        once on its old cgroup (status 219/CGROUP), so the start is retried.
        """
        return self.run(f"for i in 1 2 3 4 5; do systemctl start {unit} && break; sleep 1; done; "
                        f"systemctl is-active --quiet {unit}", check=check)

    def journal_cursor(self):
        """Where the host's journal ends now; wait_for_journal looks only after it."""
        shown = self.run("journalctl -n 1 --show-cursor --no-pager -q -o cat").stdout
        cursors = [line[len("-- cursor: "):] for line in shown.splitlines() if line.startswith("-- cursor: ")]
        assert cursors, f"{self.name}: no journal cursor in {shown!r}"
        return cursors[-1]

    def wait_for_journal(self, after_cursor, *texts, timeout=30.0):
        """The first journal line after ``after_cursor`` holding every one of ``texts``.

        Fails (AssertionError) once ``timeout`` seconds pass without one.
        """
        command = (f"journalctl --no-pager -q -o cat --after-cursor={shlex.quote(after_cursor)} | "
                   + " | ".join(f"grep -F -- {shlex.quote(text)}" for text in texts))
        deadline = time.monotonic() + timeout
        while True:
            found = self.run(command, check=False).stdout.splitlines()
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self.name}: no journal line with {texts!r} within {timeout} s")
            time.sleep(0.5)

    def wait_for_file_containing(self, path, marker, timeout=30.0):
        """True once ``path`` (a file, or any file under a directory) contains ``marker``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(f"grep -rqF -- {shlex.quote(marker)} {shlex.quote(path)}", check=False).returncode == 0:
                return True
            time.sleep(0.5)
        return False


def lab_hosts():
    return {h.name: LabHost(h) for h in fleet.load()}


def last_reply(transcript):
    return transcript[-1]["code"], transcript[-1]["text"]
