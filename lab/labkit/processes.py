"""Background processes the lab starts, each recorded in a pid file.

The lab only ever signals a PID it recorded itself, and only after checking
that /proc/PID/cmdline still shows the program it started.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

from .run import LabError, say


def start(argv, pidfile, logfile):
    pidfile = Path(pidfile)
    with open(logfile, "ab") as log:
        process = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    pidfile.write_text(f"{process.pid}\n{argv[0]}\n")
    return process


def ensure_alive(process, name, logfile):
    """A server that exits at once (e.g. its port is taken) must not pass for started."""
    if process.poll() is not None:
        raise LabError(f"{name} exited with {process.returncode}; see {logfile}")


def recorded_pid(pidfile, must_contain):
    """The recorded PID if that process still runs the recorded program, else None."""
    pidfile = Path(pidfile)
    if not pidfile.exists():
        return None
    lines = pidfile.read_text().splitlines()
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    program = lines[1] if len(lines) > 1 else ""
    if program and program not in cmdline:
        return None
    if must_contain and must_contain not in cmdline:
        return None
    return pid


def _foreign_pid(pidfile, must_contain):
    """A live PID in the pid file that runs the recorded program for someone else
    (another checkout's lab, which shares the state directory)."""
    pid = recorded_pid(pidfile, None)
    return pid if pid is not None and recorded_pid(pidfile, must_contain) is None else None


def stop(pidfile, must_contain, timeout=30.0, name="process"):
    """Stop a recorded process: SIGTERM, wait, then SIGKILL. Removes the pid file."""
    foreign = _foreign_pid(pidfile, must_contain)
    if foreign is not None:
        raise LabError(f"{name} (pid {foreign}) belongs to a lab started from another checkout; "
                       "run `lab/lab down` there first")
    pid = recorded_pid(pidfile, must_contain)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and recorded_pid(pidfile, must_contain) == pid:
            time.sleep(0.1)
        if recorded_pid(pidfile, must_contain) == pid:
            say(f"{name} ignored SIGTERM for {timeout:.0f}s; killing it")
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
    Path(pidfile).unlink(missing_ok=True)
