"""The host side of the pyinfra operations and facts: the Ansible modules' own code, without Ansible.

This file runs on the target, shipped by ``remote.py`` together with the
collection's module_utils and modules (the target has Python, not
ansible-core). It calls the modules' ``converge`` functions with real
postconf/postmap runners, so a change made through pyinfra is staged,
validated and installed by exactly the code the Ansible modules run.

Requests come on stdin as one JSON line (they may hold passwords, which must
never be on a command line); results go to stdout as one JSON line without
the modules' diffs (a diff of a secret table shows its values).
"""

import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys

PREFIX = 'ansible_collections.mailforge.postfix.plugins.'
# get_bin_path of AnsibleModule looks there too; a non-root login's PATH often lacks them.
SBIN = ('/sbin', '/usr/sbin', '/usr/local/sbin')


def run(argv, environ_update=None):
    """``AnsibleModule.run_command``'s contract, which the postfix_cli runners are written against."""
    env = dict(os.environ, **(environ_update or {}))
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, errors='surrogateescape')
    return done.returncode, done.stdout, done.stderr


def binary(name, required=True):
    path = shutil.which(name, path=os.pathsep.join([os.environ.get('PATH', '')] + list(SBIN)))
    if path is None and required:
        raise ValueError('%s not found on the host (PATH and %s)' % (name, ', '.join(SBIN)))
    return path


def _import(name):
    return __import__(PREFIX + name, fromlist=['*'])


def _runners(config_dir):
    postfix_cli = _import('module_utils.postfix_cli')
    return (postfix_cli.Postconf(run, binary('postconf'), config_dir),
            postfix_cli.Postmap(run, binary('postmap'), config_dir))


def converge_postconf(params):
    postconf, postmap = _runners(params['config_dir'])
    return _import('modules.postconf').converge(postconf, postmap, params['parameters'], params['validate'])


def converge_postfix_map(params):
    postconf, postmap = _runners(params['config_dir'])
    return _import('modules.postfix_map').converge(params, postmap, postconf)


def converge_sasldb_users(params):
    postfix_cli = _import('module_utils.postfix_cli')
    found = binary('postconf', required=False)
    postconf = postfix_cli.Postconf(run, found, params['config_dir']) if found else None
    return _import('modules.sasldb_users').converge(params, False, postconf)


class _ModuleStandIn:
    """What module_utils.postfix_drain.PostfixRestart asks of an AnsibleModule."""

    def __init__(self):
        self.warnings = []

    @staticmethod
    def run_command(argv, environ_update=None):
        return run(argv, environ_update)

    @staticmethod
    def get_bin_path(name, required=False):
        return binary(name, required)

    @staticmethod
    def fail_json(msg, **_result):
        raise ValueError(msg)

    def warn(self, text):
        self.warnings.append(text)


def restart_postfix(params):
    """The postfix_restart module's restart: after the deliveries in progress end."""
    module = _ModuleStandIn()
    restart = _import('module_utils.postfix_drain').PostfixRestart(module, params['config_dir'])
    return dict(restart.restart(params['unit'], params['drain_timeout']), changed=True, warnings=module.warnings)


def sasldb_state(path, link, owner, group, mode, digest_key):
    """What sasldb_users' converge bases its decision on, with every value as a keyed digest.

    The records are read by the module's own reader, which refuses damaged
    databases. Values are HMAC-SHA256 digests under ``digest_key``, so the
    controller can compare them with the passwords it holds while no password
    leaves the host; keys are hex, as they are bytes that need not be UTF-8.
    """
    staging = _import('module_utils.staging')
    module = _import('modules.sasldb_users')
    key = bytes.fromhex(digest_key)
    try:
        wanted = staging.resolve_uid(owner), staging.resolve_gid(group), staging.parse_mode(mode)
        module._require_berkeley_db()
        records = module.read_records(path)
    except (ValueError, OSError) as error:
        return dict(problem=str(error))
    exists = os.path.exists(path)
    return dict(
        problem=None,
        exists=exists,
        size=os.path.getsize(path) if exists else None,
        attributes_differ=exists and staging.attributes_differ(path, *wanted),
        link=os.readlink(link) if link and os.path.islink(link) else None,
        records={k.hex(): hmac.new(key, v, hashlib.sha256).hexdigest() for k, v in records.items()},
    )


def postfix_map_state(path, index, owner, group, mode):
    """What postfix_map's converge bases its decision on; the source as a digest, as it may hold secrets."""
    staging = _import('module_utils.staging')
    module = _import('modules.postfix_map')
    try:
        wanted = staging.resolve_uid(owner), staging.resolve_gid(group), staging.parse_mode(mode)
    except ValueError as error:
        return dict(problem=str(error))
    source = staging.read_bytes(path)
    return dict(
        problem=None,
        sha256=None if source is None else hashlib.sha256(source).hexdigest(),
        # Only asked when the source is as wanted, as converge does.
        stale=bool(index) and source is not None and module._stale(index, path),
        wrong_attributes=[p for p in (path, index) if p and os.path.exists(p) and staging.attributes_differ(p, *wanted)],
    )


FACTS = {'sasldb_state': sasldb_state, 'postfix_map_state': postfix_map_state}
CONVERGE = {'postconf': converge_postconf, 'postfix_map': converge_postfix_map,
            'sasldb_users': converge_sasldb_users, 'postfix_restart': restart_postfix}


def main(argv=None, stdin=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['fact']:
        kind, args = argv[1], json.loads(argv[2])
        print(json.dumps(FACTS[kind](**args), sort_keys=True))
        return 0
    request = json.loads((stdin or sys.stdin).readline())
    staging = _import('module_utils.staging')
    postfix_cli = _import('module_utils.postfix_cli')
    failures = (ValueError, OSError, postfix_cli.PostfixCommandError, staging.StagedValidationError,
                staging.ConcurrentChangeError)
    try:
        result = CONVERGE[request['module']](request['params'])
    except failures as error:
        # The modules' messages name users and keys, never passwords or values.
        sys.stderr.write('%s: %s\n' % (request['module'], error))
        return 1
    result.pop('diff', None)
    print(json.dumps(result, sort_keys=True))
    return 0
