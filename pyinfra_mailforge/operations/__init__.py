"""pyinfra operations of mailforge: postconf, postfix_map, sasldb_users.

Each decides on the controller, from facts and module_utils, whether anything
differs, and yields no command when nothing does. A change is one command:
the Ansible module's converge, run on the host (see host_driver.py), which
plans again against the live files and stages, validates and installs as the
module does.
"""
