# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Thin runners for the Postfix command line tools postconf(1) and postmap(1).

Each runner only builds argv lists and hands them to an injected ``run``
callable with the signature of ``AnsibleModule.run_command``; tests inject a
fake that records argv and returns canned output.
"""

from __future__ import annotations

import re

# Postfix messages are parsed by their English wording.
C_LOCALE = {'LC_ALL': 'C'}

# "postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar"
# The program prefix is argv[0], so it may be a full path.
_DIAGNOSTIC = re.compile(r'^(?:\S+: )?(warning|fatal): (.*)$')


class PostfixCommandError(Exception):
    """A Postfix tool exited non-zero or reported a fatal error."""

    def __init__(self, argv, rc, stderr):
        self.argv = list(argv)
        self.rc = rc
        self.stderr = stderr
        detail = stderr.strip() or 'no output on stderr'
        super().__init__('%s exited with %s: %s' % (' '.join(self.argv), rc, detail))


def diagnostics(stderr, level='warning'):
    """Return a tool's messages of one level (without prefixes), in order, once each."""
    messages = []
    for line in stderr.splitlines():
        match = _DIAGNOSTIC.match(line.strip())
        if match and match.group(1) == level and match.group(2) not in messages:
            messages.append(match.group(2))
    return messages


class _Tool:
    def __init__(self, run, binary, config_dir):
        self._run = run
        self.binary = binary
        self.config_dir = config_dir

    def at(self, config_dir):
        """The same runner pointed at another directory, e.g. a staging copy."""
        return type(self)(self._run, self.binary, config_dir)

    def _call(self, *args):
        argv = [self.binary, '-c', self.config_dir] + list(args)
        rc, stdout, stderr = self._run(argv, environ_update=dict(C_LOCALE))
        return argv, rc, stdout, stderr

    def _checked(self, *args):
        argv, rc, stdout, stderr = self._call(*args)
        if rc != 0:
            raise PostfixCommandError(argv, rc, stderr)
        return stdout, diagnostics(stderr)


class Postconf(_Tool):
    """postconf(1) bound to one configuration directory."""

    def non_default(self):
        """``postconf -n``: (stdout, warnings)."""
        return self._checked('-n')

    def services(self):
        """``postconf -M``: (stdout, warnings)."""
        return self._checked('-M')

    def defaults(self):
        """``postconf -d``: the built-in default of every parameter, as text."""
        stdout, _warnings = self._checked('-d')
        return stdout

    def value(self, name):
        """``postconf -h NAME``: the value of one parameter as written, not expanded."""
        stdout, _warnings = self._checked('-h', name)
        return stdout.strip()

    def expanded_value(self, name):
        """``postconf -xh NAME``: the value with ``$parameter`` references expanded."""
        stdout, _warnings = self._checked('-xh', name)
        return stdout.strip()

    def set_parameters(self, values):
        """``postconf -e name=value ...`` for an ordered mapping of rendered values."""
        self._checked('-e', *['%s=%s' % item for item in values.items()])

    def remove_parameters(self, names):
        self._checked('-X', *names)

    def set_service(self, identity, entry):
        self._checked('-M', '%s=%s' % (identity, entry))

    def remove_service(self, identity):
        self._checked('-MX', identity)

    def check(self):
        """Parse main.cf and master.cf the way Postfix does; return all warnings."""
        _out, main_warnings = self.non_default()
        _out, master_warnings = self.services()
        return main_warnings + [w for w in master_warnings if w not in main_warnings]


class Postmap(_Tool):
    """postmap(1); ``config_dir`` decides which main.cf and dynamic maps it loads."""

    # A key no real table contains; only the parse of the table matters.
    PROBE = 'mailforge-validation-probe'

    def build(self, map_type, path):
        """Create the index for TYPE:PATH; return the warnings of the successful run."""
        _out, messages = self._checked('%s:%s' % (map_type, path))
        return messages

    def probe(self, map_type, path):
        """Open TYPE:PATH with a lookup, so that Postfix parses it; return the warnings.

        Exit status 1 only means "key not found"; a table that cannot be
        opened is reported through ``fatal:`` on stderr.
        """
        argv, rc, _stdout, stderr = self._call('-q', self.PROBE, '%s:%s' % (map_type, path))
        if rc > 1 or diagnostics(stderr, 'fatal'):
            raise PostfixCommandError(argv, rc, stderr)
        return diagnostics(stderr)

    def global_parameter_errors(self):
        """Problems Postfix finds in main.cf's global parameters; empty when there are none.

        postconf(1) never converts values; postmap(1), like every Postfix
        program, converts the global ones (message_size_limit,
        smtputf8_enable, ipc_timeout, ...) on start and stops at the first
        bad one. A lookup in a built-in table touches nothing else.
        """
        _argv, rc, _stdout, stderr = self._call('-q', self.PROBE, 'static:' + self.PROBE)
        if rc == 0:
            return []
        return diagnostics(stderr, 'fatal') or ['postmap exited with %s: %s' % (rc, stderr.strip())]
