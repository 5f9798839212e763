"""The collection as a user gets it: built, installed into an empty path, used.

The tarball comes from scripts/build-collection (ansible-galaxy collection
build on a staging copy). It is installed with ansible-galaxy into an empty
collections path and used from a fresh virtualenv holding nothing but the
ansible-core of requirements.txt, from a directory without the checkout's
ansible.cfg: whatever the checkout provides by its paths cannot help.
Takes about half a minute, most of it the virtualenv; no lab.
"""
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
COLLECTION = ('mailforge', 'postfix')
MODULES = sorted(path.stem for path in (TOP / 'modules').glob('*.py'))
LOOKUPS = sorted(path.stem for path in (TOP / 'lookup_plugins').glob('*.py'))
# Checkout folder -> where the collection holds its files.
PLUGIN_FOLDERS = {'modules': 'plugins/modules', 'module_utils': 'plugins/module_utils',
                  'lookup_plugins': 'plugins/lookup', 'action_plugins': 'plugins/action',
                  'plugin_utils': 'plugins/plugin_utils'}
# Nothing of these may be packed: the controller's virtualenv, caches, the lab,
# the checkout-only tests and the top-level plugin folders (packed as plugins/).
FORBIDDEN = re.compile(r'(^|/)(\.venv|\.ansible|\.pytest_cache|__pycache__|\.git)(/|$)|\.pyc$'
                       r'|^(lab|molecule|bench|inventory|collections|scripts|tests/unit|tests/host|tests/collection'
                       r'|modules|module_utils|lookup_plugins|action_plugins|plugin_utils)(/|$)|^(site\.yml|ansible\.cfg|requirements\.txt)$')


def ansible_core_pin():
    for line in (TOP / 'requirements.txt').read_text().splitlines():
        if line.startswith('ansible-core=='):
            return line
    raise AssertionError('requirements.txt pins no ansible-core')


def expected_files():
    """Every file the collection must hold, as its path inside the collection."""
    expected = {'README.md', 'CHANGELOG.rst', 'meta/runtime.yml'}
    for folder, place in PLUGIN_FOLDERS.items():
        # rglob: module_utils has packages (restrictions/) as well as files.
        expected |= {f'{place}/{path.relative_to(TOP / folder)}' for path in (TOP / folder).rglob('*.py')
                     if not FORBIDDEN.search(str(path.relative_to(TOP / folder)))}
    for folder in ('roles', 'playbooks', 'changelogs'):
        expected |= {str(path.relative_to(TOP)) for path in (TOP / folder).rglob('*')
                     if path.is_file() and not FORBIDDEN.search(str(path.relative_to(TOP)))}
    return expected


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('collection')


@pytest.fixture(scope='module')
def tarball(work):
    built = subprocess.run([sys.executable, str(TOP / 'scripts/build-collection'), str(work / 'dist')],
                           capture_output=True, text=True, check=True)
    return Path(built.stdout.strip())


@pytest.fixture(scope='module')
def clean_env(work):
    """Environment for the fresh virtualenv's ansible, knowing only ``work/collections``."""
    venv = work / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    subprocess.run([str(venv / 'bin/pip'), 'install', '-q', '--disable-pip-version-check', ansible_core_pin()],
                   check=True)
    (work / 'ansible.cfg').write_text('')
    (work / 'home').mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith('ANSIBLE_')}
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", HOME=str(work / 'home'), ANSIBLE_CONFIG=str(work / 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=str(work / 'collections'), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               ANSIBLE_NOCOLOR='1', NO_COLOR='1')
    env.pop('VIRTUAL_ENV', None)
    return env


@pytest.fixture(scope='module')
def installed(work, tarball, clean_env):
    run(['ansible-galaxy', 'collection', 'install', '--offline', '-p', str(work / 'collections'), str(tarball)],
        work, clean_env)
    path = work / 'collections/ansible_collections' / Path(*COLLECTION)
    assert (path / 'MANIFEST.json').is_file()
    return path


def run(command, cwd, env):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f'{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    assert '[WARNING]' not in result.stderr and '[ERROR]' not in result.stderr, result.stderr
    return result.stdout


def test_tarball_holds_the_collection_as_real_files(tarball):
    with tarfile.open(tarball) as tar:
        members = {member.name: member for member in tar.getmembers()}
        files_json = json.load(tar.extractfile('FILES.json'))
        manifest = json.load(tar.extractfile('MANIFEST.json'))
        packed = {name for name, member in members.items() if member.isfile()} - {'FILES.json', 'MANIFEST.json'}
        contents = {name: tar.extractfile(name).read() for name in packed}

    info = manifest['collection_info']
    assert (info['namespace'], info['name']) == COLLECTION
    assert info['license'] == ['GPL-3.0-or-later']
    links = sorted(name for name, member in members.items() if member.issym() or member.islnk())
    assert not links, f'links in the tarball: {links}'
    listed = {entry['name'] for entry in files_json['files'] if entry['ftype'] == 'file'}
    assert listed == packed

    missing = expected_files() - packed
    assert not missing, f'not packed: {sorted(missing)}'
    unwanted = sorted(name for name in packed if FORBIDDEN.search(name))
    assert not unwanted, f'packed, but not part of the collection: {unwanted}'
    # The packed plugins are the checkout's, byte for byte.
    for folder, place in PLUGIN_FOLDERS.items():
        for path in (TOP / folder).rglob('*.py'):
            if not FORBIDDEN.search(str(path.relative_to(TOP / folder))):
                assert contents[f'{place}/{path.relative_to(TOP / folder)}'] == path.read_bytes(), path


def test_role_parts_are_all_packed(tarball):
    """Each role's tasks, defaults, argument specs, handlers, vars, templates and files."""
    with tarfile.open(tarball) as tar:
        packed = set(tar.getnames())
    for role in sorted(path for path in (TOP / 'roles').iterdir() if path.is_dir()):
        assert f'roles/{role.name}/meta/argument_specs.yml' in packed, role.name
        assert f'roles/{role.name}/defaults/main.yml' in packed, role.name
        for part in ('tasks', 'handlers', 'vars', 'templates', 'files'):
            for path in (role / part).rglob('*') if (role / part).is_dir() else ():
                if path.is_file():
                    assert str(path.relative_to(TOP)) in packed, path


@pytest.mark.parametrize('module', MODULES)
def test_module_doc_renders_from_the_installed_collection(module, work, installed, clean_env):
    text = run(['ansible-doc', f'mailforge.postfix.{module}'], work, clean_env)
    assert f'> MODULE mailforge.postfix.{module} ({installed}/plugins/modules/{module}.py)' in text
    assert 'EXAMPLES:' in text and 'OPTIONS' in text


@pytest.mark.parametrize('lookup', LOOKUPS)
def test_lookup_doc_renders_from_the_installed_collection(lookup, work, installed, clean_env):
    text = run(['ansible-doc', '-t', 'lookup', f'mailforge.postfix.{lookup}'], work, clean_env)
    assert f'> LOOKUP mailforge.postfix.{lookup} ({installed}/plugins/lookup/{lookup}.py)' in text


def test_site_playbook_runs_from_the_installed_collection(work, installed, clean_env):
    inventory = work / 'hosts.yml'
    inventory.write_text('all:\n  children:\n    mail_servers:\n      hosts:\n        mx.example.test:\n'
                         '    greylist_db:\n      hosts:\n        db.example.test:\n')
    run(['ansible-playbook', '-i', str(inventory), '--syntax-check', 'mailforge.postfix.site'], work, clean_env)
    listed = run(['ansible-playbook', '-i', str(inventory), '--list-tasks', 'mailforge.postfix.site'],
                 work, clean_env)
    assert f'playbook: {installed}/playbooks/site.yml' in listed
    # Every role of the site playbook, found in the installed collection.
    site = (TOP / 'playbooks/site.yml').read_text()
    roles = re.findall(r'^\s*ansible\.builtin\.import_role:\n\s*name: (\w+)', site, re.MULTILINE)
    assert len(roles) == 13, roles
    for role in roles:
        assert f'mailforge.postfix.{role} : ' in listed, role
