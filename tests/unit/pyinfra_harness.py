"""Running pyinfra_mailforge's operations outside a deploy, the way pyinfra's own tests do.

TableHost answers facts from a table (facts in) and the operation's commands
are collected (commands out). LocalHost runs the fact commands and the
commands for real, on this machine, so that a second run can be asked with
the facts the first one left behind.
"""
import copy
import os
import subprocess
from pathlib import Path

from pyinfra.api import StringCommand
from pyinfra.context import ctx_host

from pyinfra_mailforge import remote

FAKE_POSTFIX = Path(__file__).with_name('fake_postfix')


def describe(command):
    """A command as the tables write it: plain text, or {'converge': module, 'params': ...}."""
    if command.connector_arguments.get('_stdin'):
        module, params = remote.request_of(command)
        return {'converge': module, 'params': params}
    return str(command)


class TableHost:
    name = 'mx1'

    def __init__(self, facts):
        self.facts = facts
        self.asked = []
        self.noops = []

    def get_fact(self, cls, **kwargs):
        self.asked.append((cls.__name__, kwargs))
        value = self.facts[cls.__name__]
        if cls.__name__ == 'PostconfValue':
            value = value[kwargs['parameter']]
        return copy.deepcopy(value(**kwargs) if callable(value) else value)

    def noop(self, description):
        self.noops.append(description)


def commands_of(operation, host, **arguments):
    with ctx_host.use(host):
        return list(operation._inner(**arguments))


def run_table(operation, facts, **arguments):
    host = TableHost(facts)
    return [describe(command) for command in commands_of(operation, host, **arguments)], host


class LocalHost(TableHost):
    """Facts and commands run by sh on this machine; Debian's python3 and the fake postconf first on PATH."""

    def __init__(self, extra_env=None):
        super().__init__({})
        self.env = dict(os.environ, PATH='%s:/usr/bin:/bin' % FAKE_POSTFIX, **(extra_env or {}))
        self.transcript = []

    def _sh(self, command, stdin=None):
        raw = command.get_raw_value() if isinstance(command, StringCommand) else command
        done = subprocess.run(['sh', '-c', raw], input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=120)
        self.transcript.append((str(command), done.stdout, done.stderr))
        return done

    def get_fact(self, cls, **kwargs):
        self.asked.append((cls.__name__, kwargs))
        fact = cls()
        done = self._sh(fact.command(**kwargs))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        return fact.process(lines) if lines else fact.default()

    def execute(self, command):
        stdin = command.connector_arguments.get('_stdin')
        return self._sh(command, stdin=''.join(line + '\n' for line in stdin) if stdin else None)

    def converge(self, operation, **arguments):
        """One run: the commands the operation yields, each executed; returns them."""
        commands = commands_of(operation, self, **arguments)
        for command in commands:
            done = self.execute(command)
            assert done.returncode == 0, done.stderr
        return commands
