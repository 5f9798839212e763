# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What Postfix knows about restrictions: the lists, every restriction name with its argument,
what it can do to relaying and its history, the relay guards, and the access(5) actions.

Facts come from postconf(5) and access(5) of Postfix 3.7.11 (Debian 12) and
3.10.13 (Debian 13), the upstream HISTORY file shipped as
/usr/share/doc/postfix/changelog.gz in 3.10.13, and smtpd(8)'s restriction
evaluation (smtpd_check.c). Data only: the syntax, the checks and the relay
simulation read it.
"""

from __future__ import annotations

from collections import namedtuple

LIST_NAMES = (
    'smtpd_client_restrictions',
    'smtpd_helo_restrictions',
    'smtpd_sender_restrictions',
    'smtpd_relay_restrictions',
    'smtpd_recipient_restrictions',
    'smtpd_data_restrictions',
    'smtpd_end_of_data_restrictions',
    'smtpd_etrn_restrictions',
)
RELAY_LISTS = ('smtpd_relay_restrictions', 'smtpd_recipient_restrictions')
CLASSES_PARAMETER = 'smtpd_restriction_classes'

# The access check smtpd applies to a bare "type:table" in each list (smtpd_check.c);
# None: smtpd answers "451 Server configuration error".
DEFAULT_ACCESS_CHECK = {
    'smtpd_client_restrictions': 'check_client_access',
    'smtpd_helo_restrictions': 'check_helo_access',
    'smtpd_sender_restrictions': 'check_sender_access',
    'smtpd_relay_restrictions': 'check_recipient_access',
    'smtpd_recipient_restrictions': 'check_recipient_access',
    'smtpd_etrn_restrictions': 'check_etrn_access',
    'smtpd_data_restrictions': None,
    'smtpd_end_of_data_restrictions': None,
}

# Arguments.
TABLE = 'table'            # type:table
DOMAIN = 'domain'          # rbl_domain or rbl_domain=d.d.d.d
SERVER = 'server'          # inet:host:port or unix:path
NUMBER = 'number'

# What a restriction can do to a request for a client that is not trusted,
# as far as relaying is concerned.
GUARD = 'guard'                  # stops relaying: rejects unless the destination is ours, or always
TRUSTED = 'trusted'              # permits only trusted clients, or only mail to our own domains
TRUSTED_TABLE = 'trusted_table'  # access table keyed by the client's own identity
CLAIMED_TABLE = 'claimed_table'  # access table keyed by what the client says: may permit anybody
NO_OK_TABLE = 'no_ok_table'      # access table where smtpd refuses an OK result
NO_RCPT = 'no_rcpt'              # not evaluated at RCPT TO (ETRN domain)
OPENS = 'opens'                  # can permit any client
POLICY = 'policy'                # a policy server can answer OK
REJECTS = 'rejects'              # can only reject or do nothing
NEUTRAL = 'neutral'              # neither permits nor rejects by itself

# warn_if_reject turns the rejection of the next restriction into a warning
# (postconf(5): a reject-type restriction, an access table or a policy query).
WARNABLE = frozenset((GUARD, REJECTS, CLAIMED_TABLE, TRUSTED_TABLE, NO_OK_TABLE, NO_RCPT, POLICY))

Restriction = namedtuple('Restriction', 'arg relay added status since replacement')
# status: current; renamed (old name still recognised; replacement is the new
# name); deprecated (works, logs that it will be removed, from ``since``);
# removed (from ``since``; deprecated before that).


def _r(arg=None, relay=REJECTS, added=None, status='current', since=None, replacement=None):
    return Restriction(arg, relay, added, status, since, replacement)


RESTRICTIONS = {
    # Generic restrictions (postconf(5), smtpd_client_restrictions).
    'permit': _r(relay=OPENS),
    'reject': _r(relay=GUARD),
    'defer': _r(relay=GUARD),
    'defer_if_permit': _r(relay=GUARD, added=(2, 1)),
    'defer_if_reject': _r(relay=NEUTRAL, added=(2, 1)),
    'check_policy_service': _r(SERVER, POLICY, (2, 1)),
    'reject_multi_recipient_bounce': _r(added=(2, 1)),
    'reject_plaintext_session': _r(added=(2, 3)),
    'reject_unauth_pipelining': _r(),
    'sleep': _r(NUMBER, NEUTRAL, (2, 3)),
    'warn_if_reject': _r(relay=NEUTRAL),
    # Client name and address.
    'check_ccert_access': _r(TABLE, TRUSTED_TABLE, (2, 2)),
    'check_client_access': _r(TABLE, TRUSTED_TABLE),
    'check_client_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_client_mx_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_client_ns_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_reverse_client_hostname_access': _r(TABLE, NO_OK_TABLE, (2, 6)),
    'check_reverse_client_hostname_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_reverse_client_hostname_mx_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_reverse_client_hostname_ns_access': _r(TABLE, NO_OK_TABLE, (2, 7)),
    'check_sasl_access': _r(TABLE, TRUSTED_TABLE, (2, 11)),
    'permit_inet_interfaces': _r(relay=TRUSTED),
    'permit_mynetworks': _r(relay=TRUSTED),
    'permit_sasl_authenticated': _r(relay=TRUSTED),
    'permit_tls_all_clientcerts': _r(relay=TRUSTED, added=(2, 2)),
    'permit_tls_clientcerts': _r(relay=TRUSTED, added=(2, 2)),
    # "For safety, ... silently ignored when it would override reject_unauth_destination."
    'permit_dnswl_client': _r(DOMAIN, TRUSTED, (2, 8)),
    'permit_rhswl_client': _r(DOMAIN, TRUSTED, (2, 8)),
    'reject_rbl_client': _r(DOMAIN, added=(2, 0)),
    'reject_rhsbl_client': _r(DOMAIN, added=(2, 0)),
    'reject_rhsbl_reverse_client': _r(DOMAIN, added=(2, 8)),
    'reject_unknown_client_hostname': _r(added=(2, 3)),
    'reject_unknown_reverse_client_hostname': _r(added=(2, 3)),
    # HELO/EHLO hostname.
    'check_helo_access': _r(TABLE, CLAIMED_TABLE),
    'check_helo_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_helo_mx_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'check_helo_ns_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'reject_invalid_helo_hostname': _r(added=(2, 3)),
    'reject_non_fqdn_helo_hostname': _r(added=(2, 3)),
    'reject_rhsbl_helo': _r(DOMAIN, added=(2, 0)),
    'reject_unknown_helo_hostname': _r(added=(2, 3)),
    # Sender address.
    'check_sender_access': _r(TABLE, CLAIMED_TABLE),
    'check_sender_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_sender_mx_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'check_sender_ns_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'reject_authenticated_sender_login_mismatch': _r(added=(2, 1)),
    'reject_known_sender_login_mismatch': _r(added=(2, 11)),
    'reject_non_fqdn_sender': _r(),
    'reject_rhsbl_sender': _r(DOMAIN, added=(2, 0)),
    'reject_sender_login_mismatch': _r(),
    'reject_unauthenticated_sender_login_mismatch': _r(added=(2, 1)),
    'reject_unknown_sender_domain': _r(),
    'reject_unlisted_sender': _r(added=(2, 1)),
    'reject_unverified_sender': _r(added=(2, 1)),
    # Recipient address.
    'check_recipient_access': _r(TABLE, CLAIMED_TABLE),
    'check_recipient_a_access': _r(TABLE, NO_OK_TABLE, (3, 0)),
    'check_recipient_mx_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'check_recipient_ns_access': _r(TABLE, NO_OK_TABLE, (2, 1)),
    'defer_unauth_destination': _r(relay=GUARD, added=(2, 10)),
    'permit_auth_destination': _r(relay=TRUSTED),
    'permit_mx_backup': _r(relay=OPENS, status='deprecated', since=(3, 9),
                           replacement='relay_domains (the parameter)'),
    'reject_non_fqdn_recipient': _r(),
    'reject_rhsbl_recipient': _r(DOMAIN, added=(2, 0)),
    'reject_unauth_destination': _r(relay=GUARD),
    'reject_unknown_recipient_domain': _r(),
    'reject_unlisted_recipient': _r(added=(2, 1)),
    'reject_unverified_recipient': _r(added=(2, 1)),
    # ETRN domain.
    'check_etrn_access': _r(TABLE, NO_RCPT),
    # Old names that Postfix still recognises (renamed in 2.3, HISTORY 20050720;
    # check_recipient_maps is the Postfix 2.0 name of reject_unlisted_recipient).
    'reject_unknown_client': _r(status='renamed', replacement='reject_unknown_client_hostname'),
    'reject_invalid_hostname': _r(status='renamed', replacement='reject_invalid_helo_hostname'),
    'reject_unknown_hostname': _r(status='renamed', replacement='reject_unknown_helo_hostname'),
    'reject_non_fqdn_hostname': _r(status='renamed', replacement='reject_non_fqdn_helo_hostname'),
    'check_recipient_maps': _r(status='renamed', replacement='reject_unlisted_recipient'),
    'reject_rbl': _r(DOMAIN, status='renamed', replacement='reject_rbl_client'),
    # Removed in Postfix 3.9 (HISTORY 20240229; they now log a warning and answer
    # "451 Server configuration error"); deprecated with warnings since 2002-2005.
    'check_relay_domains': _r(relay=GUARD, status='removed', since=(3, 9),
                              replacement='reject_unauth_destination'),
    'reject_maps_rbl': _r(status='removed', since=(3, 9), replacement='reject_rbl_client domain-name'),
    'permit_naked_ip_address': _r(relay=OPENS, status='removed', since=(3, 9),
                                  replacement='permit_mynetworks or permit_sasl_authenticated'),
}

# The relay guards, as postconf(5) lists them: "Either the smtpd_relay_restrictions or the
# smtpd_recipient_restrictions parameter must specify at least one of the following
# restrictions. Otherwise Postfix will refuse to receive mail: reject,
# reject_unauth_destination, defer, defer_if_permit, defer_unauth_destination" (smtpd
# stops with "specify at least one working instance of ..."). Each ends the request for
# mail that an untrusted client sends to a foreign domain: the *_unauth_destination
# pair refuses exactly that mail, reject and defer everything still undecided, and
# defer_if_permit the permit that the end of a list gives. Every role and the module
# take this one list; check_relay_domains was a guard too, until Postfix 3.9.
RELAY_GUARDS = ('reject_unauth_destination', 'defer_unauth_destination', 'reject', 'defer', 'defer_if_permit')
RELAY_GUARDS_TEXT = '%s or %s' % (', '.join(RELAY_GUARDS[:-1]), RELAY_GUARDS[-1])

# access(5) actions other than "restriction...": how they end a lookup.
ACCESS_PERMIT = 'permit'
ACCESS_STOP = 'stop'        # rejects or defers the request
ACCESS_NONE = 'none'        # lets the next restriction decide
ACCESS_ACTIONS = {
    'ok': ACCESS_PERMIT,
    'reject': ACCESS_STOP,
    'defer': ACCESS_STOP,
    'defer_if_reject': ACCESS_NONE,
    'defer_if_permit': ACCESS_STOP,
    'dunno': ACCESS_NONE,
    'bcc': ACCESS_NONE,
    'discard': ACCESS_NONE,
    'filter': ACCESS_NONE,
    'hold': ACCESS_NONE,
    'prepend': ACCESS_NONE,
    'redirect': ACCESS_NONE,
    'info': ACCESS_NONE,
    'warn': ACCESS_NONE,
}

# Tables that carry their own content, so the caller does not manage a file for them.
SELF_CONTAINED_TYPES = ('inline', 'static', 'fail', 'randmap')
# Tables made of other tables.
COMPOSITE_TYPES = ('unionmap', 'pipemap')
