"""Searching a lab host for secrets: its journal and the folders where leaks end up."""

SEARCHED = "/var/log /tmp /root /etc"


def files_holding(host, secrets, searched=SEARCHED):
    """The files under ``searched`` that hold any of ``secrets``; the journal must hold none.

    The secrets go in on stdin (grep -f -), never on a command line. A search
    that cannot run (grep exits 2, journalctl fails) fails the caller instead
    of looking like "nothing found", and so does an empty secret.
    """
    assert secrets and all(len(secret) >= 8 for secret in secrets), "no real secret to look for"
    patterns = "\n".join(secrets) + "\n"
    journal = host.run("journalctl --no-pager -q -o cat | grep -cF -f -; echo \"rc=${PIPESTATUS[*]}\"",
                       stdin=patterns, check=False).stdout.split()
    assert journal == ["0", "rc=0", "1"], f"{host.name}: the journal search gave {journal}"
    found = host.run(f"grep -rlF -f - {searched}; echo \"rc=$?\"", stdin=patterns, check=False).stdout.split()
    assert found[-1] in ("rc=0", "rc=1"), f"{host.name}: the search of {searched} failed: {found}"
    return set(found[:-1])
