# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Templated values handed to the lookups, as plain Python data for the pure code in module_utils."""

from __future__ import annotations


def plain(value):
    """Plain Python data of a templated value (ansible-core wraps strings in tagged types)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value
