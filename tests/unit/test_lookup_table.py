import pytest

from ansible_collections.mailforge.postfix.plugins.module_utils import lookup_table
from fakes import PCRE_STDERR, REGEXP_STDERR
from ansible_collections.mailforge.postfix.plugins.module_utils.postfix_cli import diagnostics

HEADER = 'Managed by mailforge'


@pytest.mark.parametrize('map_type, entries, rules, text', [
    ('hash', {}, None, '# Managed by mailforge\n'),
    # dicts are sorted, list values joined
    ('hash', {'team@example.org': ['alice@example.org', 'bob@example.org'], 'abuse@example.org': 'root'},
     None, '# Managed by mailforge\nabuse@example.org root\nteam@example.org alice@example.org, bob@example.org\n'),
    # lists keep their order; numbers become text
    ('lmdb', [{'key': 'z.example', 'value': 'OK'}, {'key': 10, 'value': 550}], None,
     '# Managed by mailforge\nz.example OK\n10 550\n'),
    ('texthash', {'k': '  padded  '}, None, '# Managed by mailforge\nk padded\n'),
    ('pcre', None, [{'pattern': '/^Subject: (viagra|cialis)/i', 'action': 'REJECT no thanks'},
                    {'pattern': '!/^$/', 'action': 'DUNNO'},
                    {'pattern': '#a\\#b#', 'action': 'WARN x'}],
     '# Managed by mailforge\n/^Subject: (viagra|cialis)/i REJECT no thanks\n!/^$/ DUNNO\n#a\\#b# WARN x\n'),
])
def test_render(map_type, entries, rules, text):
    records = lookup_table.desired_records(map_type, entries, rules)
    assert lookup_table.render(HEADER, records) == text


@pytest.mark.parametrize('header, block', [
    ('', ''),
    ('one\ntwo', '# one\n# two\n'),
    ('with trailing \n\nspace', '# with trailing\n#\n# space\n'),
])
def test_header_block(header, block):
    assert lookup_table.header_block(header) == block


@pytest.mark.parametrize('map_type, entries, rules, culprit', [
    ('hash', {'': 'x'}, None, "''"),
    ('hash', {'two words': 'x'}, None, "'two words'"),
    ('hash', {'#comment': 'x'}, None, "'#comment'"),
    ('hash', {'k\n': 'x'}, None, "'k\\n'"),
    ('hash', {'k': ''}, None, "entry 'k'"),
    ('hash', {'k': '   '}, None, "entry 'k'"),
    ('hash', {'k': 'a\nb'}, None, "entry 'k'"),
    ('hash', {'k': True}, None, "entry 'k'"),
    ('hash', {'k': {'a': 'b'}}, None, "entry 'k'"),
    ('hash', [{'key': 'a', 'value': '1'}, {'key': 'a', 'value': '2'}], None, "'a' is listed twice"),
    ('hash', {'Admin@example.org': 'x', 'admin@example.org': 'y'}, None, 'listed twice'),
    ('hash', [{'key': 'a'}], None, 'entries[0]'),
    ('hash', 'a b', None, 'entries must be'),
    ('hash', None, [{'pattern': '/x/', 'action': 'OK'}], 'takes entries, not rules'),
    ('hash', None, None, 'needs entries'),
    ('regexp', {'a': 'b'}, None, 'takes rules, not entries'),
    ('pcre', None, None, 'needs rules'),
    ('regexp', None, [{'pattern': '^Subject: x', 'action': 'REJECT'}], "'^Subject: x'"),
    ('regexp', None, [{'pattern': '/unterminated', 'action': 'REJECT'}], "'/unterminated'"),
    ('regexp', None, [{'pattern': '/a/b/', 'action': 'REJECT'}], "'/a/b/'"),
    ('regexp', None, [{'pattern': 'aXbXc', 'action': 'REJECT'}], "'aXbXc'"),
    ('regexp', None, [{'pattern': '//', 'action': 'REJECT'}], "'//'"),
    ('regexp', None, [{'pattern': '/a/ REJECT', 'action': 'x'}], "'/a/ REJECT'"),
    ('regexp', None, [{'pattern': '/a\n/', 'action': 'x'}], 'rules[0]'),
    ('regexp', None, [{'pattern': '/a/', 'action': ''}], 'rule /a/'),
    ('regexp', None, [{'pattern': '/a/', 'action': 'OK'}, {'pattern': '/a/', 'action': 'REJECT'}],
     "'/a/' is listed twice"),
    ('dbm', {'a': 'b'}, None, "'dbm' is not supported"),
])
def test_bad_input_names_the_culprit(map_type, entries, rules, culprit):
    with pytest.raises(ValueError) as caught:
        lookup_table.desired_records(map_type, entries, rules)
    assert culprit in str(caught.value)


@pytest.mark.parametrize('map_type, suffix', [
    ('hash', '.db'), ('btree', '.db'), ('lmdb', '.lmdb'), ('cdb', '.cdb'),
    ('texthash', None), ('regexp', None), ('pcre', None),
])
def test_index_suffixes(map_type, suffix):
    assert lookup_table.is_indexed(map_type) is (suffix is not None)
    assert lookup_table.INDEX_SUFFIXES.get(map_type) == suffix


@pytest.mark.parametrize('text, map_type, records', [
    ('', 'hash', []),
    ('# c\n\na b\nc\td, e\n   f\n', 'hash', [('a', 'b'), ('c', 'd, e f')]),
    ('/^a b/i REJECT x y\n!/^$/ DUNNO\nnot-a-rule\n', 'regexp',
     [('/^a b/i', 'REJECT x y'), ('!/^$/', 'DUNNO'), ('not-a-rule', '')]),
])
def test_parse_records(text, map_type, records):
    assert lookup_table.parse_records(text, map_type) == records


@pytest.mark.parametrize('old, new, expected', [
    ([], [], ([], [], [])),
    ([('a', '1'), ('b', '2')], [('a', '1'), ('b', '2')], ([], [], [])),
    ([('a', '1'), ('b', '2')], [('b', '3'), ('c', '4')], (['c'], ['a'], ['b'])),
])
def test_key_changes(old, new, expected):
    assert lookup_table.key_changes(old, new) == expected


RULES = [{'pattern': '/^Subject: good/', 'action': 'REJECT ok'},
         {'pattern': '/^Subject: (bad/', 'action': 'REJECT unbalanced'},
         {'pattern': '/^X-Foo/q', 'action': 'DISCARD'}]


@pytest.mark.parametrize('header, stderr, expected', [
    # one header line, so rules start on line 2
    ('Managed', REGEXP_STDERR, [
        'rule 2 (/^Subject: (bad/): Unmatched ( or \\(',
        'rule 3 (/^X-Foo/q): unknown regexp option "q": skipping this rule']),
    ('Managed', PCRE_STDERR, ['rule 2 (/^Subject: (bad/): error in regex at offset 14: missing closing parenthesis']),
    # without a header the same line numbers point one rule further
    ('', PCRE_STDERR, ['rule 3 (/^X-Foo/q): error in regex at offset 14: missing closing parenthesis']),
    # a line number in the header, or no line number at all, is passed through
    ('Managed', 'postmap: warning: regexp map /t, line 1: odd\npostmap: warning: something\n',
     ['regexp map /t, line 1: odd', 'something']),
])
def test_explain_warnings_names_the_rule(header, stderr, expected):
    records = lookup_table.desired_records('regexp', None, RULES)
    warnings = diagnostics(stderr.format(path='/etc/postfix/.mailforge-x/header_checks'))
    explained = lookup_table.explain_warnings(warnings, header, records, 'rule')
    assert [e.replace('/etc/postfix/.mailforge-x/header_checks', '/t') for e in explained] == expected


def test_render_masked_hides_every_value():
    records = [('[relay]:587', 'user:secret'), ('other', 'u:p')]
    assert lookup_table.render_masked(records, ['[relay]:587']) == (
        '[relay]:587 <hidden, changed>\nother <hidden>\n')


def test_map_ref():
    assert lookup_table.map_ref('lmdb', '/etc/postfix/virtual') == 'lmdb:/etc/postfix/virtual'


HEADER_ACTIONS = ['REJECT', 'DISCARD', 'WARN']


@pytest.mark.parametrize('map_type, entries, rules, actions, problem', [
    ('regexp', None, [{'pattern': '/^X-Mailer: GOTO/', 'action': 'reject I fight spam'}], HEADER_ACTIONS, None),
    ('regexp', None, [{'pattern': '/a/', 'action': 'DISCARD'}, {'pattern': '/b/', 'action': 'REJEKT no'}],
     HEADER_ACTIONS, "rule 2 (/b/): action 'REJEKT' is not one of DISCARD, REJECT, WARN"),
    ('hash', {'falcot.test': 'OKAY'}, None, ['OK', 'REJECT'], "entry 1 (falcot.test): action 'OKAY' is not one of"),
    ('hash', {'falcot.test': 'anything goes'}, None, None, None),
])
def test_actions_are_checked_when_given(map_type, entries, rules, actions, problem):
    if problem is None:
        assert lookup_table.desired_records(map_type, entries, rules, actions)
    else:
        with pytest.raises(ValueError) as caught:
            lookup_table.desired_records(map_type, entries, rules, actions)
        assert problem in str(caught.value)
