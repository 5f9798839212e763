import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import master_cf
from fakes import POSTCONF_M_310


def service(**fields):
    item = dict(name='submission', type='inet', private='n', chroot='y', command='smtpd')
    item.update(fields)
    return item


def one(**fields):
    return master_cf.desired_services([service(**fields)])[0]


@pytest.mark.parametrize('fields, entry', [
    ({}, 'submission inet n - y - - smtpd'),
    ({'private': False, 'unpriv': True, 'chroot': '-', 'wakeup': 60, 'maxproc': 1},
     'submission inet n y - 60 1 smtpd'),
    ({'wakeup': '1000?', 'maxproc': '0'}, 'submission inet n - y 1000? 0 smtpd'),
    ({'options': {'syslog_name': 'postfix/submission', 'smtpd_tls_security_level': 'encrypt',
                  'smtpd_sasl_auth_enable': True}},
     'submission inet n - y - - smtpd -o syslog_name=postfix/submission '
     '-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes'),
    # a value with whitespace is grouped; an empty list is an empty value
    ({'options': {'smtpd_client_restrictions': ['permit_sasl_authenticated', 'reject'],
                  'smtpd_helo_restrictions': []}},
     'submission inet n - y - - smtpd -o {smtpd_client_restrictions=permit_sasl_authenticated, reject} '
     '-o smtpd_helo_restrictions='),
    # The internal clients' milters (roles milters, sasl_auth): braces inside the grouped value, as
    # Postfix 3.7.11's postconf -M wrote and postconf -P read it back.
    ({'options': {'smtpd_milters': ['unix:/clamav/clamav-milter.ctl',
                                    '{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }']}},
     'submission inet n - y - - smtpd -o {smtpd_milters=unix:/clamav/clamav-milter.ctl, '
     '{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }}'),
    ({'name': 'dovecot', 'type': 'unix', 'private': '-', 'unpriv': 'n', 'chroot': 'n', 'command': 'pipe',
      'args': ['flags=DRhu', 'user=vmail:vmail', 'argv=/usr/lib/dovecot/deliver', '-f', '${sender}']},
     'dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail argv=/usr/lib/dovecot/deliver -f ${sender}'),
    ({'name': '127.0.0.1:10025', 'options': {'content_filter': ''}, 'args': ['-v']},
     '127.0.0.1:10025 inet n - y - - smtpd -o content_filter= -v'),
])
def test_written_entry(fields, entry):
    assert master_cf.written_entry(one(**fields)) == entry


@pytest.mark.parametrize('items, culprit, problem', [
    ([service(type='tcp')], 'service submission/tcp', 'type'),
    ([service(maxproc='many')], 'service submission/inet', 'maxproc'),
    ([service(maxproc='1.5')], 'service submission/inet', 'maxproc'),
    ([service(wakeup='soon')], 'service submission/inet', 'wakeup'),
    ([service(private='yes')], 'service submission/inet', 'private'),
    ([service(options={'bad name': 'x'})], 'service submission/inet', "'bad name'"),
    ([service(options={'smtpd_banner': 'a\nb'})], 'service submission/inet', 'smtpd_banner'),
    ([service(options={'smtpd_banner': {'a': 'b'}})], 'service submission/inet', 'smtpd_banner'),
    ([service(args=['a b'])], 'service submission/inet', 'args[0]'),
    ([service(args=['ok', '{grouped}'])], 'service submission/inet', 'args[1]'),
    ([service(command=None)], 'service submission/inet', 'command'),
    ([service(command='smtpd -v')], 'service submission/inet', 'command'),
    ([service(name='sub mission')], 'services[0]', 'name'),
    ([service(name='a/b')], 'services[0]', 'name'),
    ([service(), service(private='y')], 'service submission/inet', 'twice'),
])
def test_bad_services_name_the_culprit(items, culprit, problem):
    with pytest.raises(ValueError) as caught:
        master_cf.desired_services(items)
    assert culprit in str(caught.value)
    assert problem in str(caught.value)


def test_absent_service_needs_no_command():
    assert master_cf.desired_services([{'name': 'smtps', 'type': 'inet', 'state': 'absent'}])[0].state == 'absent'


def test_parse_services_normalises_whitespace_and_keeps_braces():
    live = master_cf.parse_services(POSTCONF_M_310)
    assert list(live) == ['smtp/inet', 'pickup/unix', 'tlsmgr/unix', 'relay/unix', 'postlog/unix-dgram',
                          'submission/inet']
    assert live['postlog/unix-dgram'] == 'postlog unix-dgram n - n - 1 postlogd'
    assert live['submission/inet'] == ('submission inet n - y - - smtpd -o syslog_name=postfix/submission '
                                       '-o {smtpd_client_restrictions=permit_sasl_authenticated, reject}')


LIVE = master_cf.parse_services(POSTCONF_M_310)
SUBMISSION = service(options={'syslog_name': 'postfix/submission',
                              'smtpd_client_restrictions': ['permit_sasl_authenticated', 'reject']})


@pytest.mark.parametrize('items, changed, removed, restart', [
    # nothing to do: entries equal to what postconf -M prints, and an absent service that is absent
    ([SUBMISSION, {'name': 'pickup', 'type': 'unix', 'private': 'n', 'chroot': 'y', 'wakeup': 60,
                   'maxproc': 1, 'command': 'pickup'},
      {'name': 'smtps', 'type': 'inet', 'state': 'absent'}], [], [], False),
    # "-" and an explicit default differ as printed
    ([dict(SUBMISSION, private='y')], ['submission/inet'], [], False),
    ([dict(SUBMISSION, options={'syslog_name': 'postfix/sub'})], ['submission/inet'], [], False),
    ([service(name='smtps', args=['-v'])], ['smtps/inet'], [], True),
    ([{'name': 'submission', 'type': 'inet', 'state': 'absent'}], ['submission/inet'], ['submission/inet'], True),
    ([{'name': 'relay', 'type': 'unix', 'state': 'absent'}], ['relay/unix'], ['relay/unix'], False),
    ([service(name='amavis', type='unix', command='smtp')], ['amavis/unix'], [], False),
])
def test_plan(items, changed, removed, restart):
    changes = master_cf.plan(master_cf.desired_services(items), LIVE)
    assert master_cf.changed_services(changes) == changed
    assert changes.remove == removed
    assert master_cf.restart_required(changes, LIVE) is restart


def test_diff_text_covers_changed_services_only():
    changes = master_cf.plan(master_cf.desired_services(
        [dict(SUBMISSION, options={'syslog_name': 'postfix/sub'}),
         {'name': 'relay', 'type': 'unix', 'state': 'absent'}]), LIVE)
    before, after = master_cf.diff_text(LIVE, changes)
    assert before == (LIVE['relay/unix'] + '\n' + LIVE['submission/inet'] + '\n')
    assert after == 'submission inet n - y - - smtpd -o syslog_name=postfix/sub\n'
