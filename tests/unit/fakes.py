"""Stand-ins for AnsibleModule.run_command, and Postfix output observed with the real binaries.

Fixture text was captured from Debian 13's Postfix 3.10.13 and Debian 12's
3.7.11 (``postconf -c DIR ...`` on an extracted package, LC_ALL=C).
"""

import os
import re


class FakeRun:
    """Records each argv and environment; answers from ``respond(argv)`` or with success.

    ``respond`` returns (rc, stdout, stderr), or None for (0, '', '').
    """

    def __init__(self, respond=None):
        self.respond = respond or (lambda argv: None)
        self.calls = []
        self.environments = []

    def __call__(self, argv, environ_update=None):
        self.calls.append(list(argv))
        self.environments.append(environ_update)
        return self.respond(list(argv)) or (0, '', '')

    def calls_in(self, config_dir):
        """The arguments after ``-c config_dir`` of the calls made for that directory."""
        return [argv[3:] for argv in self.calls if argv[1:3] == ['-c', config_dir]]


class FakePostconf:
    """A tiny postconf: edits main.cf/master.cf in the directory it is pointed at.

    ``-n`` answers the parameters in main.cf (all of them, as if every one were
    used) except those in ``unused``, which it reports the way Postfix does.
    ``-M`` answers the entries of master.cf, one line each; ``-d`` answers
    POSTCONF_D_37. As postmap, it answers the global-parameter probe with the
    fatal error ``global_fatal(main_cf_text)`` returns, if any. Use as ``respond``.
    """

    def __init__(self, unused=(), master_warning=None, reject_service=None, global_fatal=None):
        self.unused = set(unused)
        self.master_warning = master_warning
        self.reject_service = reject_service
        self.global_fatal = global_fatal or (lambda text: None)

    def __call__(self, argv):
        config_dir, args = argv[2], argv[3:]
        main_cf = os.path.join(config_dir, 'main.cf')
        master_cf = os.path.join(config_dir, 'master.cf')
        if argv[0] == 'postmap':
            assert args[0] == '-q' and args[2].startswith('static:'), argv
            fatal = self.global_fatal(_read(main_cf))
            return (1, '', 'postmap: fatal: %s\n' % fatal) if fatal else (0, args[1] + '\n', '')
        if args[0] == '-d':
            return 0, POSTCONF_D_37, ''
        if args[0] == '-e':
            for setting in args[1:]:
                name, _sep, value = setting.partition('=')
                _write_parameter(main_cf, name, value)
        elif args[0] == '-X':
            for name in args[1:]:
                _write_parameter(main_cf, name, None)
        elif args[0] == '-n':
            return self._non_default(main_cf)
        elif args[0] == '-M' and len(args) == 1:
            stderr = 'postconf: warning: %s\n' % self.master_warning.format(dir=config_dir) \
                if self.master_warning else ''
            return 0, _read(master_cf), stderr
        elif args[0] == '-M':
            identity, _sep, entry = args[1].partition('=')
            if identity == self.reject_service:
                return 1, '', 'postconf: fatal: invalid type field "bogus" in "%s"\n' % entry
            _write_service(master_cf, identity, entry)
        elif args[0] == '-MX':
            _write_service(master_cf, args[1], None)
        return None

    def _non_default(self, main_cf):
        stdout, stderr = [], []
        for line in sorted(_read(main_cf).splitlines()):
            if not line.strip() or line.startswith('#'):
                continue
            name, _sep, value = line.partition(' = ')
            if name in self.unused:
                stderr.append('postconf: warning: %s: unused parameter: %s=%s\n' % (main_cf, name, value))
            else:
                stdout.append(line.rstrip() + '\n')
        return 0, ''.join(stdout), ''.join(stderr)


def _read(path):
    with open(path) as handle:
        return handle.read()


def _write_parameter(path, name, value):
    lines = [line for line in _read(path).splitlines() if not line.startswith(name + ' =')]
    if value is not None:
        lines.append('%s = %s' % (name, value))
    with open(path, 'w') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def _write_service(path, identity, entry):
    name, service_type = identity.split('/')
    pattern = re.compile(r'^%s\s+%s\s' % (re.escape(name), re.escape(service_type)))
    lines = [line for line in _read(path).splitlines() if not pattern.match(line)]
    if entry is not None:
        lines.append(entry)
    with open(path, 'w') as handle:
        handle.write(''.join(line + '\n' for line in lines))


# postconf -d of Postfix 3.7.11 (extract).
POSTCONF_D_37 = """\
biff = yes
compatibility_level = 0
inet_interfaces = all
ipc_timeout = 3600s
lmtp_tcp_port = 24
message_size_limit = 10240000
mydestination = $myhostname, localhost.$mydomain, localhost
readme_directory = /usr/share/doc/postfix
relayhost =
smtpd_client_connection_count_limit = 50
smtpd_client_restrictions =
smtpd_forbid_bare_newline = no
smtpd_helo_required = no
smtpd_sasl_auth_enable = no
smtpd_tls_security_level =
syslog_name = ${multi_instance_name?{$multi_instance_name}:{postfix}}
"""

# postconf -n, Debian 13 main.cf after installation (extract).
POSTCONF_N_310 = """\
alias_database = hash:/etc/aliases
biff = no
compatibility_level = 3.9
inet_protocols = all
mailbox_command =
mailbox_size_limit = 51200000
mydestination = $myhostname, localhost.$mydomain, localhost
mynetworks = 127.0.0.0/8
relayhost =
smtpd_banner = $myhostname ESMTP $mail_name (Debian)
"""

# postconf -c /srv/pfx -n of Postfix 3.7 lists config_directory although main.cf does not set it.
POSTCONF_N_37 = """\
append_dot_mydomain = no
biff = no
compatibility_level = 3.6
config_directory = /srv/pfx
readme_directory = no
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
"""

# postconf -M, Debian 13 master.cf (extract, with an added service).
POSTCONF_M_310 = """\
smtp       inet  n       -       y       -       -       smtpd
pickup     unix  n       -       y       60      1       pickup
tlsmgr     unix  -       -       y       1000?   1       tlsmgr
relay      unix  -       -       y       -       -       smtp -o syslog_name=${multi_instance_name?{$multi_instance_name}:{postfix}}/$service_name
postlog    unix-dgram n  -       n       -       1       postlogd
submission inet  n       -       y       -       -       smtpd -o syslog_name=postfix/submission \
-o {smtpd_client_restrictions=permit_sasl_authenticated, reject}
"""

# postmap -q probe regexp:FILE and pcre:FILE on a table with a broken second and third rule.
REGEXP_STDERR = """\
postmap: warning: regexp map {path}, line 3: Unmatched ( or \\(
postmap: warning: regexp map {path}, line 4: unknown regexp option "q": skipping this rule
"""
PCRE_STDERR = """\
postmap: warning: pcre map {path}, line 3: error in regex at offset 14: missing closing parenthesis
"""
# postmap -q probe cidr:FILE (Postfix 3.7.11) on a table whose second entry has host bits set.
CIDR_STDERR = """\
postmap: warning: cidr map {path}, line 3: non-null host address bits in "198.18.0.17/28", perhaps you should \
use "198.18.0.16/28" instead: skipping this rule
"""
