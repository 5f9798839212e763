"""Running commands and reporting progress."""
import subprocess
import sys


class LabError(Exception):
    """A failure the lab explains to the user; no traceback needed."""


def say(message):
    print(f"lab: {message}", file=sys.stderr, flush=True)


def sh(argv, check=True, capture=False, quiet=False, **kwargs):
    """Run argv (a list, never a shell string). Raises LabError on failure."""
    result = subprocess.run(
        [str(a) for a in argv],
        text=True,
        stdout=subprocess.PIPE if capture or quiet else None,
        stderr=subprocess.PIPE if capture or quiet else None,
        **kwargs,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip()
        raise LabError(f"command failed ({result.returncode}): {' '.join(map(str, argv))}\n{detail}")
    return result
