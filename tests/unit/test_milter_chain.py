"""Several milters in one Postfix: fixed order, each with its own outage behaviour."""
import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils.milter_chain import ChainError, chain, cidr_key

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
    found = chain(entries, internal_networks=['127.0.0.0/8'])
    assert found == dict(smtpd_milters=smtpd, non_smtpd_milters=non_smtpd, stop_units=stop,
                         milter_default_action=found['milter_default_action'],
                         # Every milter for every client: one chain, no map.
                         internal_milters=smtpd, split=False, smtpd_milter_map=None)


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
    assert chain([entry] + other) == dict(expected, stop_units=['dkimpy-milter.service', 'opendmarc.service'],
                                          internal_milters=expected['smtpd_milters'], split=False,
                                          smtpd_milter_map=None)


def test_no_milter_takes_every_parameter_out():
    assert chain([dict(CLAMAV, state='absent', units=['clamav-milter.service']), None]) == dict(
        smtpd_milters=None, non_smtpd_milters=None, milter_default_action=None, stop_units=['clamav-milter.service'],
        internal_milters=None, split=False, smtpd_milter_map=None)


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


# --- internal and external clients ---------------------------------------------------------------------------

# The dkim_signing role's two instances: the signer for the fleet's own senders, the verifier for the others.
SIGNER = dict(DKIM, clients='internal')
VERIFIER = dict(DKIM, socket='unix:/dkimpy-milter/verify.sock', clients='external', non_smtpd=False,
                units=['dkimpy-milter-verify.service'])
OPENDMARC = dict(DMARC, socket='unix:/opendmarc/opendmarc.sock', default_action='accept')
CLAMAV_ITEM = 'unix:/clamav/clamav-milter.ctl'
SIGNER_ITEM = '{ unix:/dkimpy-milter/dkimpy-milter.sock, default_action=accept }'
VERIFIER_ITEM = '{ unix:/dkimpy-milter/verify.sock, default_action=accept }'
DMARC_ITEM = '{ unix:/opendmarc/opendmarc.sock, default_action=accept }'
# The postfix role's default mynetworks and the lab's office network.
MYNETWORKS = ['127.0.0.0/8', '[::ffff:127.0.0.0]/104', '[::1]/128', '198.18.0.16/28']
CIDR_KEYS = ['127.0.0.0/8', '::ffff:127.0.0.0/104', '::1/128', '198.18.0.16/28']


def lines(value):
    return [dict(key=key, value=value) for key in CIDR_KEYS]


@pytest.mark.parametrize('entries, smtpd, internal, non_smtpd, stop', [
    # The lab: port 25 verifies, mynetworks and submission sign; both chains keep ClamAV first, OpenDMARC last.
    ([OPENDMARC, VERIFIER, SIGNER, CLAMAV],
     [CLAMAV_ITEM, VERIFIER_ITEM, DMARC_ITEM], [CLAMAV_ITEM, SIGNER_ITEM, DMARC_ITEM], [SIGNER_ITEM], []),
    # No verification (dkim_signing_verify false): external clients pass no DKIM milter.
    ([CLAMAV, SIGNER, dict(VERIFIER, state='absent'), OPENDMARC],
     [CLAMAV_ITEM, DMARC_ITEM], [CLAMAV_ITEM, SIGNER_ITEM, DMARC_ITEM], [SIGNER_ITEM],
     ['dkimpy-milter-verify.service']),
    # The signer alone: internal clients get it, the others no milter at all.
    ([SIGNER], None, ['unix:/dkimpy-milter/dkimpy-milter.sock'], ['unix:/dkimpy-milter/dkimpy-milter.sock'], []),
])
def test_internal_clients_get_a_chain_of_their_own(entries, smtpd, internal, non_smtpd, stop):
    found = chain(entries, internal_networks=MYNETWORKS)
    assert (found['smtpd_milters'], found['internal_milters'], found['non_smtpd_milters'], found['stop_units'],
            found['split']) == (smtpd, internal, non_smtpd, stop, True)
    assert found['smtpd_milter_map'] == lines(', '.join(internal))


def test_internal_clients_without_an_internal_milter_get_none():
    # A verifier alone: smtpd would otherwise fall back to smtpd_milters for mynetworks.
    found = chain([CLAMAV, VERIFIER], internal_networks=['198.18.0.16/28'])
    assert found['smtpd_milters'] == [CLAMAV_ITEM, VERIFIER_ITEM]
    assert found['smtpd_milter_map'] == [dict(key='198.18.0.16/28', value=CLAMAV_ITEM)]
    assert chain([VERIFIER], internal_networks=['::1'])['smtpd_milter_map'] == [dict(key='::1/128', value='DISABLE')]


@pytest.mark.parametrize('entries', [
    [CLAMAV, dict(SIGNER, state='absent'), dict(VERIFIER, state='absent'), OPENDMARC],
    [CLAMAV, None, None, OPENDMARC],
])
def test_without_the_dkim_milters_nothing_is_split(entries):
    found = chain(entries, internal_networks=MYNETWORKS)
    assert (found['split'], found['smtpd_milter_map']) == (False, None)
    assert found['smtpd_milters'] == found['internal_milters'] == [CLAMAV_ITEM, DMARC_ITEM]


def test_both_dkim_units_stop_when_the_role_is_disabled():
    found = chain([CLAMAV, dict(SIGNER, state='absent'), dict(VERIFIER, state='absent')])
    assert found['stop_units'] == ['dkimpy-milter.service', 'dkimpy-milter-verify.service']


def test_a_split_chain_needs_no_network():
    found = chain([SIGNER, VERIFIER])
    assert (found['split'], found['smtpd_milter_map']) == (True, None)


def test_the_map_lists_each_network_once():
    found = chain([SIGNER, VERIFIER], internal_networks=['127.0.0.1', '127.0.0.1/32', '[::1]/128', '::1'])
    assert [line['key'] for line in found['smtpd_milter_map']] == ['127.0.0.1/32', '::1/128']


@pytest.mark.parametrize('entry, key', [
    ('[::1]/128', '::1/128'),
    ('::1', '::1/128'),
    ('[::ffff:127.0.0.0]/104', '::ffff:127.0.0.0/104'),
    ('[::ffff:7f00:0]/104', '::ffff:127.0.0.0/104'),
    ('[2001:db8::]/32', '2001:db8::/32'),
    ('198.18.0.17/28', '198.18.0.16/28'),
    ('192.0.2.7', '192.0.2.7/32'),
    ('hash:/etc/postfix/network_table', None),
    ('office.falcot.test', None),
])
def test_a_mynetworks_entry_becomes_a_cidr_key_the_same_with_every_python(entry, key):
    # cidr tables take no [] around IPv6 networks in mynetworks' style, and skip a network with host bits.
    assert cidr_key(entry) == key


@pytest.mark.parametrize('entries, networks, problem', [
    ([SIGNER, VERIFIER], ['127.0.0.1', 'hash:/etc/postfix/network_table'],
     "internal network 'hash:/etc/postfix/network_table' (mynetworks) is not an address or network"),
    ([dict(SIGNER, clients='inside')], [],
     "milter dkim_signing: clients 'inside' must be one of all, internal, external"),
    ([dict(VERIFIER, non_smtpd=True)], [], 'milter dkim_signing is for external clients only, but non_smtpd_milters'),
    ([SIGNER, dict(VERIFIER, clients='internal')], [], 'milter dkim_signing is listed twice'),
    ([SIGNER, dict(VERIFIER, clients='all')], [], 'milter dkim_signing is listed twice'),
    ([SIGNER, dict(VERIFIER, socket=SIGNER['socket'])], [], 'milters dkim_signing and dkim_signing share the socket'),
])
def test_a_split_chain_refuses_naming_the_culprit(entries, networks, problem):
    with pytest.raises(ChainError) as caught:
        chain(entries, internal_networks=networks)
    assert problem in str(caught.value)


def test_a_network_that_is_no_address_matters_only_when_the_chain_is_split():
    assert chain([CLAMAV], internal_networks=['hash:/etc/postfix/network_table'])['split'] is False
