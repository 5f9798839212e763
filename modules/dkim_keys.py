#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dkim_keys
short_description: The fleet's DKIM keys in a vault-encrypted file on the controller, and their rotation steps
description:
  - Keeps one DKIM key set for the whole fleet in one vault-encrypted YAML file on the controller
    (C(dkim_keys) mapping each domain to its selectors). Every MX signs a domain with the same
    selector's key, so one DNS record serves them all, and a host added later gets the same keys.
  - Runs on the controller only (an action plugin). The file is decrypted and encrypted again with the
    run's vault secrets (C(--vault-password-file), C(--ask-vault-pass), C(vault_password_file) or vault
    ids). A key file that is not vault-encrypted is refused. Nothing is sent to any host.
  - Keys are generated with the C(cryptography) library that ansible-core uses. RSA keys are PEM
    (PKCS#1), Ed25519 keys the base64 of their 32-byte seed, the forms dkimpy-milter reads.
  - Each selector is C(published) (its record belongs in DNS, it does not sign), C(signing) (at most
    one per algorithm and domain) or C(retired) (record withdrawn, private key deleted, name never
    reused).
  - O(step=ensure) generates the selectors of O(domains) that the file lacks, in state C(published),
    and keeps everything else. O(step=publish) adds a new selector (rotation step 1); O(step=switch)
    makes it sign, and the selector that signed with its algorithm goes back to C(published) (step 2,
    once the new record is visible in DNS); O(step=retire) withdraws an old selector once
    O(grace_days) have passed since it stopped signing (step 3). O(step=show) only reads and checks.
    Every step is idempotent.
  - Bad input fails before the file changes, naming the culprit - a selector that is not a DNS label,
    an RSA key below 2048 bits, an unknown algorithm, a domain that the fleet does not handle (the
    domains of O(local_domains), O(alias_domains) and O(mailbox_domains), as the mail_fleet lookup
    reads them).
  - The result and the diff hold the public side only; private keys are never returned or printed.
version_added: 0.2.0
author: mailforge team (!UNKNOWN)
options:
  path:
    description: The key file on the controller; created (mode 0600, encrypted) when a step first changes it.
    type: path
    required: true
  step:
    description: What to do.
    type: str
    choices: [ensure, publish, switch, retire, show]
    default: ensure
  domains:
    description:
      - For O(step=ensure), each domain to sign mapped to its selectors, a list of C({selector, algorithm,
        bits}); C(algorithm) is C(rsa) (the default, C(bits) from 2048, default 2048) or C(ed25519).
    type: dict
    default: {}
  local_domains:
    description: The fleet's local domains (C(postfix_mydestination_domains)).
    type: list
    elements: str
    default: []
  alias_domains:
    description: The fleet's virtual alias domains (C(virtual_domains_alias_domains)).
    type: list
    elements: str
    default: []
  mailbox_domains:
    description: The fleet's virtual mailbox domains (C(virtual_domains_mailbox_domains)).
    type: list
    elements: str
    default: []
  domain:
    description: The domain of O(step=publish), O(step=switch) or O(step=retire).
    type: str
  selector:
    description: The selector of O(step=publish), O(step=switch) or O(step=retire); one DNS label.
    type: str
  algorithm:
    description: Algorithm of a selector made by O(step=publish).
    type: str
    default: rsa
  bits:
    description: RSA key size of a selector made by O(step=publish); at least 2048, default 2048.
    type: int
  grace_days:
    description: Days after a selector stopped signing before O(step=retire) withdraws it.
    type: int
    default: 7
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change; the file is not written (no key is kept from a check run).
  diff_mode:
    support: full
    details: The states and public keys before and after; never a private key.
  platform:
    platforms: posix
notes:
  - Runs on the controller whatever the task's host; use it in a play on C(localhost).
seealso:
  - module: mailforge.postfix.postconf
"""

EXAMPLES = r"""
- name: Generate the keys the inventory lists and the file lacks
  mailforge.postfix.dkim_keys:
    path: "{{ inventory_dir }}/dkim_keys.vault.yml"
    domains:
      falcot.test:
        - {selector: falcot2026r, algorithm: rsa, bits: 2048}
        - {selector: falcot2026e, algorithm: ed25519}
    local_domains: [falcot.test]

- name: Rotation step 2, once the new record answers in DNS
  mailforge.postfix.dkim_keys:
    path: "{{ inventory_dir }}/dkim_keys.vault.yml"
    step: switch
    domain: falcot.test
    selector: falcot2027r
    local_domains: [falcot.test]
"""

RETURN = r"""
changes:
  description: What the step changed (or would change, in check mode), one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["falcot.test: selector falcot2027r signs", "falcot.test: selector falcot2026r stops signing (still published)"]
selectors:
  description: The key set after the step without private keys, domain to selector to its fields.
  returned: always
  type: dict
  sample: {falcot.test: {falcot2026r: {algorithm: rsa, bits: 2048, state: signing, created: "2026-11-26", public_key: MIIBIjAN...}}}
"""
