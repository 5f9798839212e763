"""The roles' input checks that need no host (module_utils/role_input.py, lookup role_input), and the site
playbook's first play that runs them on every host before any role changes anything."""
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.mailforge.postfix.plugins.lookup.greylist_db_rules import LookupModule
from ansible_collections.mailforge.postfix.plugins.module_utils import role_input
from ansible_collections.mailforge.postfix.plugins.module_utils.greylist_db import RULES

TOP = Path(__file__).resolve().parents[2]
LAB = yaml.safe_load((TOP / 'inventory/lab/group_vars/mail_servers.yml').read_text())
GREYLISTING_CHECK = 'check_policy_service { inet:127.0.0.1:10023, default_action=DUNNO }'
FLEET_MX = {'local_domains': [], 'elsewhere_domains': ['falcot.test', 'legacy.falcot.test', 'partners.falcot.test'],
            'relay_restrictions': None}


def defaults(*roles):
    found = {}
    for role in roles:
        found.update(yaml.safe_load((TOP / 'roles' / role / 'defaults/main.yml').read_text()) or {})
    return found


def lab_mx(**overrides):
    """An MX host of the lab as the play sees it: role defaults, the lab's group_vars, the derived values."""
    variables = defaults('postfix', 'greylisting', 'spf_policy', 'restriction_classes', 'smtpd_restrictions',
                         'virtual_domains', 'content_filters', 'antivirus', 'dkim_signing', 'dmarc', 'milters',
                         'sasl_auth', 'fail2ban')
    variables.update({name: value for name, value in LAB.items() if not str(value).startswith('{{')})
    variables['smtpd_restrictions_recipient'] = [
        spf_check(variables['spf_policy_outage']) if item == '{{ spf_policy_check }}' else item
        for item in variables['smtpd_restrictions_recipient']]
    variables.update(
        restriction_classes_definitions={'greylisting': [GREYLISTING_CHECK], 'permissive': ['permit'],
                                         'aggressive': ['reject_rbl_client strict.lab.test',
                                                        'reject_unknown_client_hostname']},
        postfix_myhostname='mx1.falcot.test',
        antivirus_signature_files=[str(TOP / 'lab/signatures/lab-eicar.hdb')],
        greylisting_sql_host='198.18.0.40', greylisting_sql_password='Abcdefgh-1234567-lab')
    variables.update(overrides)
    derived = dict(
        postfix__fleet=FLEET_MX,
        postfix__relay_restrictions=variables['postfix_smtpd_relay_restrictions'],
        greylisting__port=str(variables['greylisting_listen']).rsplit(':', 1)[-1],
        smtpd_restrictions__lists={
            'smtpd_client_restrictions': variables['smtpd_restrictions_client'],
            'smtpd_helo_restrictions': variables['smtpd_restrictions_helo'],
            'smtpd_sender_restrictions': variables['smtpd_restrictions_sender'],
            'smtpd_recipient_restrictions': variables['smtpd_restrictions_recipient'],
            'smtpd_data_restrictions': variables['smtpd_restrictions_data']},
        content_filters__actions=yaml.safe_load(
            (TOP / 'roles/content_filters/vars/main.yml').read_text())['content_filters__actions'])
    socket = str(variables['antivirus_milter_socket'])
    inet = re.match(r'^inet:([0-9]{1,5})@([0-9A-Fa-f.:]+|localhost)$', socket)
    unix = re.match(r'^unix:/var/spool/postfix(/[A-Za-z0-9_./-]+)$', socket)
    derived.update(antivirus__inet=list(inet.groups()) if inet else '', antivirus__unix=[unix.group(1)] if unix else '')
    derived.update(deliverability_derived(variables, derived))
    variables.update(derived)
    variables.update((name, value) for name, value in overrides.items() if name in derived)
    return variables


def spf_check(outage):
    """spf_policy_check (roles/spf_policy/defaults) as the play renders it."""
    return ('check_policy_service { unix:private/policyd-spf, default_action=%s }'
            % ('DUNNO' if outage == 'accept' else 'DEFER_IF_PERMIT'))


def chroot_path(socket):
    """unix:/var/spool/postfix/PATH -> [PATH], or '' (the roles' *__unix)."""
    found = re.match(r'^unix:/var/spool/postfix(/[A-Za-z0-9_./-]+)$', str(socket))
    return [found.group(1)] if found else ''


def deliverability_derived(variables, derived):
    """The values the dkim_signing, spf_policy, dmarc and milters roles derive (their defaults and vars)."""
    host = variables['postfix_myhostname']
    dkim_unix, dmarc_unix = chroot_path(variables['dkim_signing_socket']), chroot_path(variables['dmarc_socket'])
    verify_unix = chroot_path(variables['dkim_signing_verify_socket'])
    inet, unix = derived['antivirus__inet'], derived['antivirus__unix']
    antivirus_socket = ('inet:[%s]:%s' % (inet[1], inet[0])) if inet else ('unix:' + unix[0]) if unix else ''
    found = dict(
        dkim_signing__unix=dkim_unix, dkim_signing__verify_unix=verify_unix, dmarc__unix=dmarc_unix,
        dkim_signing_keys_file=variables.get('dkim_keys_file', ''),
        dkim_signing_domains=list(variables.get('dkim_keys_domains') or {}),
        dkim_signing_authserv_id=host, spf_policy_authserv_id=host, dmarc_authserv_id=host,
        dmarc_trusted_authserv_ids=[host],
        dmarc__ignore_hosts=[str(item).replace('[', '').replace(']', '') for item in variables['postfix_mynetworks']],
        spf_policy_check=spf_check(variables['spf_policy_outage']))
    entries = [
        dict(name='antivirus', state='present' if variables['antivirus_enabled'] else 'absent',
             socket=antivirus_socket, default_action=variables['antivirus_outage_action'], smtpd=True,
             non_smtpd=bool(variables['antivirus_non_smtpd']),
             units=['clamav-milter.service', 'clamav-daemon.socket', 'clamav-daemon.service']),
        dict(name='dkim_signing', state='present' if variables['dkim_signing_enabled'] else 'absent',
             socket=('unix:' + dkim_unix[0]) if dkim_unix else '',
             default_action=variables['dkim_signing_outage_action'], clients='internal', smtpd=True,
             non_smtpd=bool(variables['dkim_signing_non_smtpd']), units=['dkimpy-milter.service']),
        dict(name='dkim_signing',
             state='present' if variables['dkim_signing_enabled'] and variables['dkim_signing_verify'] else 'absent',
             socket=('unix:' + verify_unix[0]) if verify_unix else '',
             default_action=variables['dkim_signing_outage_action'], clients='external', smtpd=True,
             non_smtpd=False, units=['dkimpy-milter-verify.service']),
        dict(name='dmarc', state='present' if variables['dmarc_enabled'] else 'absent',
             socket=('unix:' + dmarc_unix[0]) if dmarc_unix else '', default_action=variables['dmarc_outage_action'],
             smtpd=True, non_smtpd=False, units=['opendmarc.service'])]
    found.update(antivirus_milter=entries[0], dkim_signing_milter=entries[1], dkim_signing_verify_milter=entries[2],
                 dmarc_milter=entries[3], milters_entries=entries,
                 milters_internal_networks=list(variables['postfix_mynetworks']))
    return found


GREYDB = dict(defaults('greylist_db'), greylist_db_listen_addresses=['198.18.0.40'],
              greylist_db_clients=['198.18.0.10', '198.18.0.11'], greylist_db_password='Abcdefgh-1234567-lab')


def found(role, variables):
    return ' | '.join(role_input.problems(role, variables))


@pytest.mark.parametrize('role', sorted(set(role_input.CHECKS) - {'greylist_db'}))
def test_the_lab_mx_input_is_accepted(role):
    assert role_input.problems(role, lab_mx()) == []


def test_the_lab_database_input_is_accepted():
    assert role_input.problems('greylist_db', GREYDB) == []


# Each bad value is refused by its role's check, with the message the role's own assert gave before.
@pytest.mark.parametrize('role, overrides, culprits', [
    ('postfix', dict(postfix_mailer_type='Internet with smarthost'), ["postfix_mailer_type must be 'Internet Site'"]),
    ('postfix', dict(postfix_smtpd_relay_restrictions=['permit_mynetworks', 'permit']),
     ['postfix: postfix_smtpd_relay_restrictions refused:', 'permit']),
    ('postfix', dict(postfix_smtpd_relay_restrictions=['permit_mynetworks', 'permissive', 'reject_unauth_destination']),
     ["smtpd_relay_restrictions item 2 'permissive'"]),
    ('greylisting', dict(greylisting_whitelist_clients=['not a host!']), ["['not a host!']"]),
    ('greylisting', dict(greylisting_whitelist_recipients=['jean at falcot']), ['jean at falcot']),
    ('greylisting', dict(greylisting_listen='10023'), ['greylisting_listen must be HOST:PORT (got 10023)']),
    ('greylisting', dict(greylisting_listen='127.0.0.1:99999'), ['greylisting_listen must be HOST:PORT']),
    ('greylisting', dict(greylisting_text='say "hi"'), ['greylisting_text must not contain quotes']),
    ('greylisting', dict(greylisting_backend='sqlgrey', greylisting_whitelist_recipients=['postmaster@']),
     ['sqlgrey has no recipient whitelist']),
    ('greylisting', dict(greylisting_backend='sqlgrey', greylisting_whitelist_recipients=[],
                         greylisting_sql_host='not a host'),
     ['greylisting_sql_host must be a host name or an IP address (got not a host)']),
    ('greylisting', dict(greylisting_backend='sqlgrey', greylisting_whitelist_recipients=[],
                         greylisting_sql_password='short'), ['greylisting_sql_password at least 16']),
    ('smtpd_restrictions', dict(smtpd_restrictions_helo=['permit_mynetworks', 'reject_bogus_helo']),
     ['reject_bogus_helo']),
    ('smtpd_restrictions', dict(smtpd_restrictions_sender=['check_sender_access hash:/etc/postfix/nothere']),
     ['hash:/etc/postfix/nothere']),
    ('smtpd_restrictions', dict(restriction_classes_default='slow'), ["default class 'slow' is not defined"]),
    ('smtpd_restrictions', dict(restriction_classes_recipients={'@falcot.test': 'permissive'}),
     ["key '@falcot.test' is a bare @domain"]),
    ('smtpd_restrictions', dict(smtpd_restrictions_access_tables={'bad/name': {}}),
     ["access_tables: 'bad/name' is not a file name"]),
    ('virtual_domains', dict(virtual_domains_uid=50), ['uid 50 must be a number of at least 100']),
    ('virtual_domains', dict(virtual_domains_mailbox_base='/etc'), ["mailbox_base '/etc'"]),
    ('virtual_domains', dict(virtual_domains_aliases={'bad address@legacy.falcot.test': 'jean@falcot.test'}),
     ['bad address@legacy.falcot.test', 'is not an address']),
    ('content_filters', dict(content_filters_body_checks=[{'pattern': '/casino/', 'action': 'REJEKT no'}]),
     ['content_filters_body_checks', 'rule 1 (/casino/)', 'REJEKT']),
    ('content_filters', dict(content_filters_header_checks=[{'pattern': 'no delimiters', 'action': 'REJECT x'}]),
     ['no delimiters']),
    ('content_filters', dict(content_filters_header_checks=[{'pattern': '/a/', 'action': 'WARN'},
                                                           {'pattern': '/a/', 'action': 'DISCARD'}]),
     ['/a/', 'listed twice']),
    ('antivirus', dict(antivirus_milter_socket='tcp:10002'), ['antivirus_milter_socket tcp:10002 must be']),
    ('antivirus', dict(antivirus_milter_socket='inet:99999@127.0.0.1'), ['inet:99999@127.0.0.1']),
    ('antivirus', dict(antivirus_signature_files=[]), ['needs antivirus_signature_files']),
    ('antivirus', dict(antivirus_signature_source='freshclam', antivirus_freshclam_mirrors=[]),
     ['air-gapped site lists its own mirror']),
    ('antivirus', dict(antivirus_signature_files=['/nonexistent/main.cvd']), ["['/nonexistent/main.cvd'] refused"]),
    ('antivirus', dict(antivirus_signature_files=[str(TOP / 'README.md')]), ["['md'] refused"]),
    ('sasl_auth', dict(postfix_smtpd_relay_restrictions=['permit_mynetworks', 'reject_unauth_destination',
                                                         'permit_sasl_authenticated'],
                       smtpd_restrictions_recipient=['permit_mynetworks', 'reject_unauth_destination',
                                                     'permit_sasl_authenticated']),
     ['sasl_auth:', 'permit_sasl_authenticated']),
])
def test_bad_input_is_refused_naming_the_culprit(role, overrides, culprits):
    message = found(role, lab_mx(**overrides))
    for culprit in culprits:
        assert culprit in message, message


def test_a_disabled_antivirus_is_not_checked():
    assert found('antivirus', lab_mx(antivirus_enabled=False, antivirus_milter_socket='tcp:1')) == ''


@pytest.mark.parametrize('overrides, culprits', [
    (dict(greylist_db_password='short'), ['greylist_db_password must have at least 16']),
    (dict(greylist_db_name='Grey'), ['(got Grey, sqlgrey)']),
    (dict(greylist_db_listen_addresses=['db.example']), ["(refused: ['db.example'])"]),
    (dict(greylist_db_clients=['198.18.0.0/33']), ["(refused: ['198.18.0.0/33'])"]),
    (dict(greylist_db_clients=[]), ['greylist_db_clients IP addresses or networks']),
    (dict(greylist_db_port=70000), ['greylist_db_port must be a port']),
])
def test_bad_database_settings_are_refused(overrides, culprits):
    message = found('greylist_db', dict(GREYDB, **overrides))
    for culprit in culprits:
        assert culprit in message, message


def test_a_restriction_only_some_supported_postfix_refuses_is_left_to_the_host():
    # check_relay_domains: removed in Postfix 3.9 (Debian 13 refuses it), a warning on 3.7 (Debian 12).
    old = lab_mx(smtpd_restrictions_helo=['permit_mynetworks', 'check_relay_domains'])
    assert found('smtpd_restrictions', old) == ''
    assert role_input.restriction_problems(
        dict(lists={'smtpd_helo_restrictions': ['check_relay_domains']}), versions=('3.10',))


@pytest.mark.parametrize('map_type', ['hash', 'lmdb'])
def test_a_planned_table_named_by_its_reference_is_left_to_the_host(map_type):
    # On the host the table is TYPE:/etc/postfix/access_helo with its default_database_type.
    named = lab_mx(smtpd_restrictions_helo=['permit_mynetworks', 'check_helo_access %s:/etc/postfix/access_helo'
                                            % map_type])
    assert found('smtpd_restrictions', named) == ''
    layered = dict(named, postfix_main_cf={'default_database_type': 'cdb'})
    assert '%s:/etc/postfix/access_helo' % map_type in found('smtpd_restrictions', layered)


def test_a_problem_with_a_planned_table_reads_the_same_whatever_the_host_type():
    typo = found('smtpd_restrictions', lab_mx(restriction_classes_recipients={'greylisted@falcot.test': 'greylistng'}))
    assert ("table_actions $default_database_type:/etc/postfix/recipient_classes action 'greylistng': greylistng is "
            "not an access(5) action") in typo


def test_sasl_checks_the_recipient_list_as_the_model_writes_it():
    # The class table comes last in the recipient list; a guard-free relay list plus a recipient list whose
    # permit_sasl_authenticated follows reject_unauth_destination is refused.
    late = lab_mx(smtpd_restrictions_recipient=['permit_mynetworks', 'reject_unauth_destination',
                                                'permit_sasl_authenticated'])
    assert 'smtpd_recipient_restrictions' in found('sasl_auth', late)


def test_sasl_without_the_other_roles_checks_what_it_has():
    variables = defaults('sasl_auth')
    assert role_input.problems('sasl_auth', variables) == []
    variables['postfix__relay_restrictions'] = ['reject_unauth_destination', 'permit_sasl_authenticated']
    assert 'permit_sasl_authenticated' in found('sasl_auth', variables)


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match='no checks for role'):
        role_input.problems('webmail', {})


# --- the greylisting database's rules, one definition for both of its roles ---------------------------

@pytest.mark.parametrize('rule, value, accepted', [
    ('identifier', 'sqlgrey', True),
    ('identifier', '_grey_2', True),
    ('identifier', 'a' * 63, True),
    ('identifier', 'a' * 64, False),
    ('identifier', 'Sqlgrey', False),
    ('identifier', '2grey', False),
    ('identifier', 'sql-grey', False),
    ('password', 'Abcdefgh-1234567', True),
    ('password', 'A!%&()*+,./:;<=>?@^_{|}~-', True),
    ('password', 'Abcdefgh-123456', False),             # 15 characters
    ('password', 'Abcdefgh-1234567#', False),           # sqlgrey.conf would cut it
    ('password', "Abcdefgh-1234567'", False),           # psql gets it inside quotes
    ('password', 'Abcdefgh 1234567', False),
    ('password', 'Abcdefgh-1234567$', False),
])
def test_both_greylisting_roles_refuse_the_same_names_and_passwords(rule, value, accepted):
    assert bool(re.match(RULES[rule], value)) is accepted
    if rule == 'identifier':
        mx = lab_mx(greylisting_backend='sqlgrey', greylisting_whitelist_recipients=[], greylisting_sql_user=value)
        db = dict(GREYDB, greylist_db_user=value)
    else:
        mx = lab_mx(greylisting_backend='sqlgrey', greylisting_whitelist_recipients=[], greylisting_sql_password=value)
        db = dict(GREYDB, greylist_db_password=value)
    assert (role_input.problems('greylisting', mx) == []) is accepted
    assert (role_input.problems('greylist_db', db) == []) is accepted
    assert LookupModule().run([rule]) == [RULES[rule]]


# --- the site playbook: every role's input on every host, before any host changes ---------------------

def site_plays():
    return yaml.safe_load((TOP / 'playbooks/site.yml').read_text())


def test_the_first_play_checks_every_role_of_the_later_plays_in_their_order():
    first, *later = site_plays()
    assert first['any_errors_fatal'] is True and first['gather_facts'] is False
    assert 'validate' in first['tags']
    checked, mx_only = [], set()
    *includes, remember = first['tasks']
    # Last, the mark that lets the roles skip their own run of the same checks.
    assert remember['ansible.builtin.set_fact'] == {'mailforge_input_checked': True}
    for task in includes:
        include = task['ansible.builtin.include_role']
        assert include['tasks_from'] == 'check'
        if 'loop' in task:
            checked.extend(re.findall(r"'(\w+)'", task['loop']))
            for names in re.findall(r"\[([^\]]*)\] if postfix__fleet\.mx", task['loop']):
                mx_only.update(re.findall(r"'(\w+)'", names))
        else:
            checked.append(include['name'])
    imports = [task for play in later for task in play['tasks']]
    run = [task['ansible.builtin.import_role']['name'] for task in imports]
    assert checked == run
    assert mx_only == {task['ansible.builtin.import_role']['name'] for task in imports
                       if task.get('when') == 'postfix__fleet.mx'}
    # Validated by this play already (entry point "check" is "main"): not again on every host.
    assert all(task['ansible.builtin.import_role']['rolespec_validate'] is False for task in imports)
    assert set(first['hosts'].split(':')) == {play['hosts'] for play in later}


def test_every_role_checks_its_input_first_with_the_same_argument_spec():
    for role in sorted(path.name for path in (TOP / 'roles').iterdir() if (path / 'tasks/main.yml').exists()):
        tasks = yaml.safe_load((TOP / 'roles' / role / 'tasks/main.yml').read_text())
        first = next(task for task in tasks if 'ansible.builtin.import_tasks' in task)
        assert first['ansible.builtin.import_tasks'] == 'check.yml', role
        assert tasks.index(first) == 0, role
        specs = yaml.safe_load((TOP / 'roles' / role / 'meta/argument_specs.yml').read_text())['argument_specs']
        assert specs['check'] == specs['main'], role
        check = (TOP / 'roles' / role / 'tasks/check.yml').read_text()
        assert 'role_input' in check, role
        # Run by the site playbook's first play, the checks are not run again by the role.
        asserts = [task for task in yaml.safe_load(check) if 'ansible.builtin.assert' in task]
        assert [task['when'] for task in asserts] == ['not (mailforge_input_checked | default(false))'], role
