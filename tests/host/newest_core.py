"""The newest ansible-core, run from the lab host ``ctl`` (Debian 13, Python 3.13).

ansible-core 2.20 and newer need Python 3.12, which this machine lacks, and lab
hosts have no route out. So the wheels for Python 3.13 are downloaded here,
copied to ``ctl`` with a copy of the checkout, the lab's ssh key and the lab's
controller-side files (the greylisting database password and the EICAR
signature the roles copy to the hosts), installed there into a virtualenv
without any index, and ansible-playbook runs there against the other lab hosts
over the bridge, exactly as it runs here.
"""
import shlex
import subprocess
import sys
from pathlib import Path

from ansible_runs import TOP, without_secrets
from labkit import config

REQUIREMENTS = TOP / "requirements-newest-core.txt"
WHEELS = config.CACHE / "wheels-py313"
VENV = "/opt/ansible-newest"
CHECKOUT = "/root/mailforge"
# Paths on this machine that the lab inventory names; ctl gets them at the same place.
CONTROLLER_FILES = [config.SSH_KEY, config.STATE / "secrets", config.STATE / "signatures"]
# ansible-core refuses to run without a UTF-8 locale; minbase Debian has only C.UTF-8.
# The lab's vault password (the fleet's DKIM key file) is among the secrets copied over.
VAULT_PASSWORD = f"ANSIBLE_VAULT_PASSWORD_FILE={config.STATE}/secrets/vault-pass"
ENVIRONMENT = (f"LC_ALL=C.UTF-8 PATH={VENV}/bin:/usr/bin:/bin ANSIBLE_CONFIG={CHECKOUT}/ansible.cfg ANSIBLE_NOCOLOR=1 "
               f"{VAULT_PASSWORD}")


def pinned_version():
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("ansible-core=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{REQUIREMENTS} pins no ansible-core")


def download_wheels():
    """Wheels of ansible-core, its dependencies and pip for CPython 3.13 on x86_64 glibc."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    platforms = [arg for tag in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64",
                                 "manylinux_2_34_x86_64") for arg in ("--platform", tag)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp", *platforms,
                    "-d", str(WHEELS), "-r", str(REQUIREMENTS), "pip"], check=True, timeout=600)


def checkout_files():
    """The checkout as git sees it: tracked files plus new ones not ignored (no .venv, no caches)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=TOP,
                            capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and (TOP / name).exists()]


def copy_tree(host, source_dir, names, destination):
    """``names`` under ``source_dir`` into ``destination`` on the lab host, by tar over ssh."""
    pack = subprocess.Popen(["tar", "-C", str(source_dir), "--null", "-T", "-", "-cf", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(host.ssh_argv(f"mkdir -p {shlex.quote(destination)} && "
                                            f"tar -C {shlex.quote(destination)} -xf -"), stdin=pack.stdout)
    pack.stdin.write(b"\0".join(name.encode() for name in names))
    pack.stdin.close()
    pack.stdout.close()
    assert unpack.wait(timeout=300) == 0 and pack.wait(timeout=300) == 0, f"copy to {host.name}:{destination} failed"


class NewestCore:
    """ansible-playbook of the newest ansible-core on ``ctl``, from a copy of this checkout."""

    def __init__(self, host):
        self.host = host
        self.version = pinned_version()
        self.name = f"{host.name} (ansible-core {self.version}, Python 3.13)"

    def prepare(self):
        download_wheels()
        host = self.host
        copy_tree(host, WHEELS, sorted(path.name for path in WHEELS.glob("*.whl")), "/root/wheels")
        host.run(f"rm -rf {CHECKOUT}")
        copy_tree(host, TOP, checkout_files(), CHECKOUT)
        for path in CONTROLLER_FILES:
            copy_tree(host, path.parent, [path.name], str(path.parent))
        host.run(f"chmod 0600 {config.SSH_KEY} && mkdir -p {config.STATE}/ssh-control")
        pip = next(WHEELS.glob("pip-*.whl")).name
        # Debian leaves ensurepip out of python3; pip runs from its own wheel instead.
        host.run(f"python3 -m venv --without-pip {VENV} && "
                 f"{VENV}/bin/python /root/wheels/{pip}/pip install -q --no-index --find-links /root/wheels "
                 f"-r {CHECKOUT}/requirements-newest-core.txt", timeout=600)
        shown = host.run(f"{ENVIRONMENT} ansible-playbook --version").stdout
        assert f"[core {self.version}]" in shown and "python version = 3.13" in shown, shown
        return self

    def put_inventory(self, local_dir, name):
        """A local folder (an inventory, playbooks), copied to ctl; returns its path there."""
        destination = f"/root/inventories/{name}"
        self.host.run(f"rm -rf {destination}")
        copy_tree(self.host, local_dir, [path.name for path in Path(local_dir).iterdir()], destination)
        return destination

    def playbook(self, *args, timeout=1500):
        """ansible-playbook from the copy of the checkout, with its ansible.cfg."""
        return self.run_in(CHECKOUT, ENVIRONMENT, "ansible-playbook", *args, timeout=timeout)

    def install_collection(self, tarball, inventory):
        """ctl as a user of the built collection: returns a runner like ``playbook``.

        The tarball goes into an empty collections path and runs from a folder
        holding only an empty ansible.cfg and a copy of ``inventory``: nothing
        of the checkout can help.
        """
        home = "/root/collection-user"
        self.host.run(f"rm -rf {home}")
        copy_tree(self.host, tarball.parent, [tarball.name], home)
        copy_tree(self.host, inventory.parent, [inventory.name], home)
        self.host.run(f": > {home}/ansible.cfg")
        environment = (f"LC_ALL=C.UTF-8 PATH={VENV}/bin:/usr/bin:/bin ANSIBLE_CONFIG={home}/ansible.cfg "
                       f"ANSIBLE_COLLECTIONS_PATH={home}/collections ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false "
                       f"ANSIBLE_NOCOLOR=1 {VAULT_PASSWORD}")
        installed = self.run_in(home, environment, "ansible-galaxy", "collection", "install", "--offline",
                                "-p", f"{home}/collections", tarball.name)
        assert installed.returncode == 0, installed.stdout + installed.stderr

        def run(*command, timeout=1500):
            return self.run_in(home, environment, *command, timeout=timeout)
        return run

    def run_in(self, folder, environment, *command, timeout=1500):
        quoted = " ".join(shlex.quote(arg) for arg in command)
        return without_secrets(self.host.run(f"cd {folder} && {environment} {quoted}", check=False, timeout=timeout),
                               f"{self.host.name}: {' '.join(command[:2])}")
