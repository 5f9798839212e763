"""Several milters in one Postfix: fixed order, each with its own outage behaviour."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.milter_chain import ChainError, chain

CLAMAV = dict(name='antivirus', socket='unix:/clamav/clamav-milter.ctl', default_action='tempfail')
DKIM = dict(name='dkim_signing', socket='unix:/dkimpy-milter/dkimpy-milter.sock', default_action='accept',
            non_smtpd=True, units=['dkimpy-milter.service'])
DMARC = dict(name='dmarc', socket='inet:[127.0.0.1]:8893', default_action='tempfail', units=['opendmarc.service'])


@pytest.mark.parametrize('entries, smtpd, non_smtpd, stop', [
    ([DMARC, DKIM, CLAMAV, None], [
        'unix:/clamav/clamav-milter.ctl',
        '{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }',
        'inet:[127.0.0.1]:8893'],
     ['{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }'], []),
    ([CLAMAV, dict(DKIM, state='absent'), dict(DMARC, state='absent')],
     ['unix:/clamav/clamav-milter.ctl'], None,
     ['dkimpy-milter.service', 'opendmarc.service']),
    ([None, None, None], None, None, []),
])
def test_chain_orders_the_milters_along_the_mail_path(entries, smtpd, non_smtpd, stop):
    found = chain(entries)
    assert found == dict(smtpd_milters=smtpd, non_smtpd_milters=non_smtpd, stop_units=stop,
                         milter_default_action=found['milter_default_action'])


# The antivirus role wrote these three parameters before the milters role owned them; the
# chain of its milter alone must be the same, so the lab's antivirus tests pass unchanged.
@pytest.mark.parametrize('socket, action, non_smtpd, expected', [
    ('unix:/clamav/clamav-milter.ctl', 'tempfail', False,
     dict(smtpd_milters=['unix:/clamav/clamav-milter.ctl'], non_smtpd_milters=None, milter_default_action='tempfail')),
    ('inet:[127.0.0.1]:10002', 'accept', True,
     dict(smtpd_milters=['inet:[127.0.0.1]:10002'], non_smtpd_milters=['inet:[127.0.0.1]:10002'],
          milter_default_action='accept')),
])
def test_the_antivirus_milter_alone_is_written_as_the_antivirus_role_wrote_it(socket, action, non_smtpd, expected):
    entry = dict(name='antivirus', socket=socket, default_action=action, non_smtpd=non_smtpd,
                 units=['clamav-milter.service'])
    other = [dict(DKIM, state='absent'), dict(DMARC, state='absent')]
    assert chain([entry] + other) == dict(expected, stop_units=['dkimpy-milter.service', 'opendmarc.service'])


def test_no_milter_takes_every_parameter_out():
    assert chain([dict(CLAMAV, state='absent', units=['clamav-milter.service']), None]) == dict(
        smtpd_milters=None, non_smtpd_milters=None, milter_default_action=None, stop_units=['clamav-milter.service'])


def test_the_global_action_is_the_first_milters_and_the_others_keep_their_own():
    found = chain([dict(DKIM, default_action='tempfail'), dict(DMARC, default_action='accept')])
    assert found['milter_default_action'] == 'tempfail'
    assert found['smtpd_milters'] == ['unix:/dkimpy-milter/dkimpy-milter.sock',
                                      '{ inet:[127.0.0.1]:8893, default_action=accept }']
    assert found['non_smtpd_milters'] == ['unix:/dkimpy-milter/dkimpy-milter.sock']


def test_an_entry_without_its_own_action_takes_the_given_default():
    entry = dict(DMARC, default_action=None)
    assert chain([entry], default_action='accept')['milter_default_action'] == 'accept'
    with pytest.raises(ChainError):
        chain([entry])


@pytest.mark.parametrize('entries, problem', [
    ([dict(DKIM, name='opendkim')], "milter 'opendkim' is not one of antivirus, dkim_signing, dmarc"),
    ([dict(DMARC, socket='local:/run/opendmarc.sock')], "milter dmarc: socket 'local:/run/opendmarc.sock' must be"),
    ([CLAMAV, dict(DMARC, socket=CLAMAV['socket'])], 'milters antivirus and dmarc share the socket'),
    ([dict(DKIM, default_action='ignore')], "milter dkim_signing: default_action 'ignore' must be one of"),
    ([DKIM, dict(DKIM, socket='inet:localhost:1')], 'milter dkim_signing is listed twice'),
])
def test_chain_refuses_naming_the_milter(entries, problem):
    with pytest.raises(ChainError) as caught:
        chain(entries)
    assert problem in str(caught.value)
