"""The SASL users file: shape checks before anything reaches a host."""
import pytest

from ansible_collections.mailforge.postfix.plugins.lookup.sasl_users_file import parse_users_file

GOOD = """
sasl_users:
  - {name: jean, password: "s3cret-j"}
  - {name: former, state: absent}
sasl_users_exclusive: true
"""


@pytest.mark.parametrize('text, users, exclusive', [
    (GOOD, [{'name': 'jean', 'password': 's3cret-j'}, {'name': 'former', 'state': 'absent'}], True),
    ('sasl_users: []\n', [], False),
    ('{"sasl_users": [{"name": "a", "password": "p"}]}', [{'name': 'a', 'password': 'p'}], False),
])
def test_good_files(text, users, exclusive):
    assert parse_users_file(text, 'users.yml') == (users, exclusive)


@pytest.mark.parametrize('text, problem', [
    ('sasl_users: [{name: jean, password: "s3cret-j"}\n', 'users.yml is not valid YAML (line'),
    ('- jean\n', 'must be a mapping with sasl_users'),
    ('sasl_user: []\n', 'must be a mapping with sasl_users'),
    ('sasl_users: []\nsasl_user_exclusive: true\n', 'unknown key(s) sasl_user_exclusive'),
    ('sasl_users: {jean: s3cret-j}\n', 'sasl_users must be a list'),
    ('sasl_users: []\nsasl_users_exclusive: "yes please"\n', 'sasl_users_exclusive must be true or false'),
])
def test_bad_files_are_refused_without_quoting_secrets(text, problem):
    with pytest.raises(ValueError) as caught:
        parse_users_file(text, 'users.yml')
    assert problem in str(caught.value)
    assert 's3cret' not in str(caught.value)
