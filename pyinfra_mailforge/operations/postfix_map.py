"""A whole Postfix lookup table and its index, as the postfix_map module writes them."""
import hashlib

from pyinfra import host
from pyinfra.api import OperationError, OperationValueError, operation

from pyinfra_mailforge import remote
from pyinfra_mailforge.facts import PostconfValue, PostfixMapState
from ansible_collections.mailforge.postfix.plugins.module_utils import lookup_table


@operation()
def table(path, entries=None, rules=None, type=None, actions=None, owner='root', group='root', mode='0644',
          hide_values=False, header=lookup_table.DEFAULT_HEADER, config_dir='/etc/postfix'):
    """Write the table at ``path`` from ``entries`` (or ``rules`` for regexp and pcre) and build its index.

    + path: the source file, e.g. /etc/postfix/virtual
    + entries: key -> value (written sorted), or a list of {key, value} (written in order)
    + rules: list of {pattern, action} of a regexp or pcre table
    + type: hash, btree, lmdb, cdb, texthash, regexp or pcre; default the host's default_database_type
    + actions: words every value (rule action) must start with, e.g. [REJECT, WARN]
    + owner, group, mode: of the source and the index
    + hide_values: for secret tables such as sasl_passwd; the module masks the values in its report.
      pyinfra shows none either way: entries go to the host on stdin, the facts compare sha256 digests
    + header: comment at the top of the file
    + config_dir: the configuration directory postmap reads (-c)

    The table is built and checked by postmap in a private directory next to
    ``path`` and renamed into place, index first (the postfix_map module's
    converge, run on the host).
    """
    map_type = type or host.get_fact(PostconfValue, parameter='default_database_type', config_dir=config_dir)
    try:
        records = lookup_table.desired_records(map_type, entries, rules, actions)
    except ValueError as error:
        raise OperationValueError('%s: %s' % (path, error))
    text = lookup_table.render(header or '', records)
    index = path + lookup_table.INDEX_SUFFIXES[map_type] if lookup_table.is_indexed(map_type) else None
    state = host.get_fact(PostfixMapState, path=path, index=index, owner=owner, group=group, mode=mode)
    if state.get('problem'):
        raise OperationError('%s: %s' % (path, state['problem']))
    rewrite = state['sha256'] != hashlib.sha256(text.encode('utf-8')).hexdigest()
    rebuild = index is not None and (rewrite or state['stale'])
    if not (rewrite or rebuild or state['wrong_attributes']):
        host.noop('%s is up to date' % lookup_table.map_ref(map_type, path))
        return
    yield remote.converge_command('postfix_map', dict(
        path=path, type=map_type, entries=entries, rules=rules, actions=actions, owner=owner, group=group,
        mode=mode, hide_values=hide_values, header=header, config_dir=config_dir))
