import struct

import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import sasldb

REALM = 'mail.example.org'


def key(user, realm=REALM, prop='userPassword'):
    return ('%s\0%s\0%s' % (user, realm, prop)).encode()


EXISTING = {key('alice'): b'a-pw', key('bob'): b'b-pw', key('bob', prop='cmusaslsecretOTP'): b'otp',
            key('carol', 'other.example'): b'c-pw'}


def user(name, password='pw', **extra):
    return dict(name=name, password=password, **extra)


@pytest.mark.parametrize('user_, realm, prop', [
    (b'alice', b'example.org', b'userPassword'),
    (b'a.b+c_d-e', b'x', b'cmusaslsecretOTP'),
])
def test_key_round_trip(user_, realm, prop):
    encoded = sasldb.encode_key(user_, realm, prop)
    assert encoded == user_ + b'\0' + realm + b'\0' + prop
    assert not encoded.endswith(b'\0')
    assert sasldb.decode_key(encoded) == (user_, realm, prop)


@pytest.mark.parametrize('raw', [b'', b'alice', b'alice\0realm', b'a\0b\0c\0d'])
def test_decode_key_refuses_keys_saslpasswd2_would_not_write(raw):
    assert sasldb.decode_key(raw) is None


@pytest.mark.parametrize('existing, users, exclusive, records, added, changed, removed', [
    # nothing to do: the same passwords, other properties and users untouched
    (EXISTING, [user('alice', 'a-pw'), user('bob', 'b-pw')], False, EXISTING, [], [], []),
    ({}, [], False, {}, [], [], []),
    ({}, [], True, {}, [], [], []),
    # new user, into an empty database and next to others
    ({}, [user('alice', 'a-pw')], False, {key('alice'): b'a-pw'}, ['alice@' + REALM], [], []),
    (EXISTING, [user('dave', 'd-pw', realm='other.example')], False,
     {**EXISTING, key('dave', 'other.example'): b'd-pw'}, ['dave@other.example'], [], []),
    # password change keeps bob's OTP secret
    (EXISTING, [user('bob', 'new')], False, {**EXISTING, key('bob'): b'new'}, [], ['bob@' + REALM], []),
    # a user with only another property gets a password: changed, not added
    ({key('bob', prop='cmusaslsecretOTP'): b'otp'}, [user('bob', 'new')], False,
     {key('bob', prop='cmusaslsecretOTP'): b'otp', key('bob'): b'new'}, [], ['bob@' + REALM], []),
    # absent removes every record of the user, and only of that realm
    (EXISTING, [dict(name='bob', state='absent')], False,
     {key('alice'): b'a-pw', key('carol', 'other.example'): b'c-pw'}, [], [], ['bob@' + REALM]),
    (EXISTING, [dict(name='carol', state='absent')], False, EXISTING, [], [], []),
    (EXISTING, [dict(name='nobody', state='absent')], True, {}, [], [],
     ['alice@' + REALM, 'bob@' + REALM, 'carol@other.example']),
    # exclusive keeps only the listed users, in every realm
    (EXISTING, [user('alice', 'a-pw')], True, {key('alice'): b'a-pw'}, [], [],
     ['bob@' + REALM, 'carol@other.example']),
    (EXISTING, [user('carol', 'c-pw', realm='other.example'), user('erin')], True,
     {key('carol', 'other.example'): b'c-pw', key('erin'): b'pw'}, ['erin@' + REALM], [],
     ['alice@' + REALM, 'bob@' + REALM]),
    # user names are case-sensitive in SASL: Alice is somebody else
    (EXISTING, [user('Alice', 'a-pw')], False, {**EXISTING, key('Alice'): b'a-pw'}, ['Alice@' + REALM], [], []),
    # keys saslpasswd2 would not write are never touched
    ({b'odd-key': b'v', key('alice'): b'a-pw'}, [], True, {b'odd-key': b'v'}, [], [], ['alice@' + REALM]),
    # non-ASCII passwords are stored as UTF-8
    ({}, [user('alice', 'pässwörd')], False, {key('alice'): 'pässwörd'.encode()}, ['alice@' + REALM], [], []),
])
def test_desired_records(existing, users, exclusive, records, added, changed, removed):
    before = dict(existing)
    assert sasldb.desired_records(existing, users, exclusive, REALM) == (records, added, changed, removed)
    assert existing == before


BAD_USERS = [
    ([user('alice', '')], 'users[0] (alice@%s): password must be a non-empty string' % REALM),
    ([user('alice', None)], 'password must be a non-empty string'),
    ([dict(name='alice')], 'password must be a non-empty string'),
    ([user('alice', 'a\0b')], 'must not contain a NUL'),
    ([user('alice', 'two\nlines')], 'must not contain control characters'),
    ([user('alice', 'tab\there')], 'must not contain control characters'),
    ([user('')], "user name ''"),
    ([user('a\0b')], "user name 'a\\x00b'"),
    ([user('alice@example.org')], "user name 'alice@example.org'"),
    ([user('al ice')], "user name 'al ice'"),
    ([user('al\tice')], "user name 'al\\tice'"),
    ([user('alice\n')], "user name 'alice\\n'"),
    ([user('al:ice')], "user name 'al:ice'"),
    ([user('jörg')], "user name 'jörg'"),
    ([user(7)], 'user name 7'),
    ([user('alice', realm='')], "realm ''"),
    ([user('alice', realm='exa mple.org')], "realm 'exa mple.org'"),
    ([user('alice', realm='example..org')], "realm 'example..org'"),
    ([user('alice', realm='-example.org')], "realm '-example.org'"),
    ([user('alice', realm='example.org.')], "realm 'example.org.'"),
    ([user('alice', realm='ex@mple.org')], "realm 'ex@mple.org'"),
    ([user('alice', realm='ex:mple.org')], "realm 'ex:mple.org'"),
    ([user('alice', realm='a' * 254)], 'must be a domain name'),
    ([user('alice'), user('alice')], 'users[1] (alice@%s) is listed twice, also as users[0]' % REALM),
    ([user('alice', realm='Example.ORG'), user('alice', realm='example.org')], 'listed twice'),
    ([user('alice'), dict(name='alice', state='absent')], 'listed twice'),
    ([user('alice', state='gone')], 'state must be present or absent'),
    ([dict(name='alice', pasword='x')], 'users[0]: each item needs'),
    (['alice'], 'users[0]: each item needs'),
    ('alice', 'users must be a list'),
]


@pytest.mark.parametrize('users, message', BAD_USERS)
def test_bad_users_are_refused(users, message):
    with pytest.raises(ValueError) as caught:
        sasldb.validate_users(users, REALM)
    assert message in str(caught.value)


@pytest.mark.parametrize('secret', ['', 'hunter2\0', 's3cret'])
def test_errors_never_show_the_password(secret):
    with pytest.raises(ValueError) as caught:
        sasldb.validate_users([user('alice', secret), user('alice', secret)], REALM)
    assert secret == '' or secret.strip('\0') not in str(caught.value)


@pytest.mark.parametrize('users, default_realm, message', [
    ([user('alice')], None, 'users[0] (alice): no realm; give one, or set the option realm'),
    ([user('alice', realm='example.org')], 'bad realm', "option realm: realm 'bad realm' must be a domain name"
     ' (letters, digits, "-", dot-separated labels)'),
])
def test_realm_option(users, default_realm, message):
    with pytest.raises(ValueError) as caught:
        sasldb.validate_users(users, default_realm)
    assert str(caught.value) == message


@pytest.mark.parametrize('users, needed', [
    ([], False),
    ([user('alice', realm='example.org')], False),
    ([user('alice', realm='example.org'), user('bob')], True),
])
def test_needs_default_realm(users, needed):
    assert sasldb.needs_default_realm(users) is needed


def test_validated_users_are_bytes():
    assert sasldb.validate_users([user('alice', 'pw'), dict(name='bob', realm='x.org', state='absent')], REALM) == [
        (b'alice', REALM.encode(), b'pw', 'present'), (b'bob', b'x.org', None, 'absent')]


def meta_page(magic=0x061561, order='<', page_size=4096, encrypted=0, page_type=8, last_page=2, elements=1):
    return (bytes(12) + struct.pack(order + 'II', magic, 9) + struct.pack(order + 'I', page_size)
            + bytes([encrypted, page_type]) + bytes(6) + struct.pack(order + 'I', last_page) + bytes(52)
            + struct.pack(order + 'I', elements) + bytes(512 - 92))


@pytest.mark.parametrize('header, fields', [
    (meta_page(), (4096, 2, 1)),
    (meta_page(order='>', page_size=512, last_page=7, elements=300), (512, 7, 300)),
])
def test_parse_header(header, fields):
    assert sasldb.parse_header(header) == fields


@pytest.mark.parametrize('header, problem', [
    (meta_page(0x053162), 'a Berkeley DB btree database, but sasldb2 must be a hash database'),
    (meta_page(0x12345678), 'not a Berkeley DB database'),
    (b'random text, no database at all' * 20, 'not a Berkeley DB database'),
    (b'\0' * 91, 'too short to be a Berkeley DB file'),
    (meta_page(encrypted=1), 'an encrypted Berkeley DB database'),
    (meta_page(page_type=9), 'a damaged Berkeley DB hash database (bad metadata page)'),
    (meta_page(page_size=4000), 'a damaged Berkeley DB hash database (bad metadata page)'),
])
def test_parse_header_names_what_the_file_is(header, problem):
    with pytest.raises(ValueError) as caught:
        sasldb.parse_header(header)
    assert str(caught.value) == problem


@pytest.mark.parametrize('size, records_read, problem', [
    (3 * 4096, 0, None),
    (3 * 4096, 30, None),
    (3 * 4096, 29, None),
    (4 * 4096, 30, None),
    (3 * 4096, 28, 'damaged: only 28 records could be read, the metadata page counts 30'),
    (4096, 0, 'truncated: 4096 bytes, but the metadata page counts 3 pages of 4096 bytes'),
])
def test_read_problem(size, records_read, problem):
    header = meta_page(elements=30) if records_read else meta_page(elements=1)
    assert sasldb.read_problem(header, size, records_read) == problem


def test_user_list_escapes_bytes_that_are_not_utf8():
    records = {**EXISTING, b'odd': b'x', b'\xff\0r\0userPassword': b'x'}
    assert sasldb.user_list(records) == '\\xff@r\nalice@%s\nbob@%s\ncarol@other.example\n' % (REALM, REALM)


@pytest.mark.parametrize('texts, secrets, found', [
    (['alice@mx.example.org', 'bob@mx.example.org'], {'s3cret-pw', 'other-pw'}, set()),
    (['alice@mx.example.org'], {'alice', 'x', 'q'}, {'alice', 'x'}),
    (['added: 1\nuser.example@mx.example.org\n'], {'example@mx', 'nothere'}, {'example@mx'}),
    (['short'], {'much-longer-than-the-text'}, set()),
    ([], {'pw'}, set()),
    (['anything'], set(), set()),
    (['ab', 'b'], {'b', ''}, {'b'}),
])
def test_secrets_in_finds_exactly_the_secrets_that_occur(texts, secrets, found):
    assert sasldb.secrets_in(texts, secrets) == found


def test_strings_of_walks_every_string_of_a_result():
    result = {'changed': True, 'counts': {'added': 2}, 'added_users': ['a@r', 'b@r'], 'realm': None,
              'diff': {'before': '', 'after': 'a@r\nb@r\n'}}
    assert sorted(sasldb.strings_of(result)) == sorted(
        ['changed', 'counts', 'added', '2', 'added_users', 'a@r', 'b@r', 'realm', 'diff', 'before', '', 'after',
         'a@r\nb@r\n'])
