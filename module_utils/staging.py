# -*- coding: utf-8 -*-
# Copyright: mailforge contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""File side effects shared by the modules: private staging copies and atomic installs."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import tempfile
from contextlib import contextmanager

STAGED_FILES = ('main.cf', 'master.cf')


class ConcurrentChangeError(Exception):
    """A live file changed between staging and installing."""


class StagedValidationError(Exception):
    """Postfix rejected the staged files; the live files were not touched."""


@contextmanager
def scratch_directory(parent=None):
    """A private temporary directory, removed afterwards.

    Give ``parent`` to be able to rename files from it into that directory's
    file system; leave it out (check mode) to write nothing near live files.
    """
    path = tempfile.mkdtemp(prefix='.mailforge-' if parent else 'mailforge-', dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def read_bytes(path):
    """File content, or None when the file does not exist."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomically(path, data, uid=None, gid=None, mode=None):
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a mix.

    Owner, group and mode default to those of the file being replaced (or to
    the process's defaults and 0644 for a new file).
    """
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    uid = current.st_uid if uid is None and current else uid
    gid = current.st_gid if gid is None and current else gid
    if mode is None:
        mode = stat.S_IMODE(current.st_mode) if current else 0o644
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            if uid is not None or gid is not None:
                os.fchown(handle.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.rename(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
        raise
    sync_directory(directory)


def sync_directory(directory):
    """Make a rename in ``directory`` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StagedConfig:
    """A private copy of a Postfix configuration directory's main.cf and master.cf.

    Use as a context manager; the copy is removed on exit. ``install`` puts a
    staged file over the live one, refusing when the live file was edited
    since it was copied.
    """

    def __init__(self, live_dir, names=STAGED_FILES):
        self.live_dir = live_dir
        self.names = names
        self.path = None
        self._originals = {}

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix='mailforge-')
        for name in self.names:
            original = read_bytes(os.path.join(self.live_dir, name))
            self._originals[name] = original
            if original is not None:
                with open(os.path.join(self.path, name), 'wb') as handle:
                    handle.write(original)
        return self

    def __exit__(self, *exc_info):
        shutil.rmtree(self.path, ignore_errors=True)

    def staged(self, name):
        return read_bytes(os.path.join(self.path, name))

    def install(self, name):
        live_path = os.path.join(self.live_dir, name)
        if read_bytes(live_path) != self._originals[name]:
            raise ConcurrentChangeError('%s changed while it was being validated; nothing was written'
                                        % live_path)
        write_atomically(live_path, self.staged(name))


def resolve_uid(owner):
    if isinstance(owner, int) or str(owner).isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise ValueError('owner %r: no such user' % owner)


def resolve_gid(group):
    if isinstance(group, int) or str(group).isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError('group %r: no such group' % group)


def parse_mode(mode):
    """An octal mode given as a string ("0640") or as the integer YAML made of 0640."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    elif isinstance(mode, str) and mode and all(c in '01234567' for c in mode):
        value = int(mode, 8)
    else:
        raise ValueError('mode %r: give an octal string such as "0644"' % (mode,))
    if value > 0o7777:
        raise ValueError('mode %r is out of range' % (mode,))
    return value


def attributes_differ(path, uid, gid, mode):
    current = os.stat(path)
    return (current.st_uid, current.st_gid, stat.S_IMODE(current.st_mode)) != (uid, gid, mode)


def set_attributes(path, uid, gid, mode):
    os.chown(path, uid, gid)
    os.chmod(path, mode)
