"""Several milters in one Postfix: fixed order, each with its own outage behaviour."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.milter_chain import ChainError, chain

CLAMAV = dict(name='antivirus', socket='unix:/clamav/clamav-milter.ctl', default_action='tempfail')
DKIM = dict(name='dkim_signing', socket='unix:/dkimpy-milter/dkimpy-milter.sock', default_action='accept',
            non_smtpd=True, units=['dkimpy-milter.service'])
DMARC = dict(name='dmarc', socket='inet:[127.0.0.1]:8893', default_action='tempfail', units=['opendmarc.service'])


@pytest.mark.parametrize('entries, smtpd, non_smtpd, stop', [
    ([DMARC, DKIM, CLAMAV, None], [
        '{ unix:/clamav/clamav-milter.ctl, default_action=tempfail }',
        '{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }',
        '{ inet:[127.0.0.1]:8893, default_action=tempfail }'],
     ['{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }'], []),
    ([CLAMAV, dict(DKIM, state='absent'), dict(DMARC, state='absent')],
     ['{ unix:/clamav/clamav-milter.ctl, default_action=tempfail }'], None,
     ['dkimpy-milter.service', 'opendmarc.service']),
    ([None, None, None], None, None, []),
])
def test_chain_orders_the_milters_along_the_mail_path(entries, smtpd, non_smtpd, stop):
    assert chain(entries) == dict(smtpd_milters=smtpd, non_smtpd_milters=non_smtpd, stop_units=stop)


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
