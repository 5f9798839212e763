"""Debian root filesystems and the offline package repository, cached per suite.

A suite's image is rebuilt only when it is missing or when the package list or
the image recipe changed. The same build downloads every .deb a role may
install into the suite's pool, which the hosts then use as their only source.
"""
import hashlib
import shutil

from . import config
from .run import LabError, say, sh


def ensure_ssh_key():
    config.CACHE.mkdir(parents=True, exist_ok=True)
    if not config.SSH_KEY.exists():
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailforge-lab", "-f", config.SSH_KEY])
    return config.SSH_KEY


def wanted_packages():
    lines = config.PACKAGES_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _fingerprint():
    digest = hashlib.sha256()
    for part in (config.IMAGE_RECIPE_VERSION, config.BASE_PACKAGES, config.MIRROR,
                 config.IMAGE_HOOK.read_text(), " ".join(wanted_packages()),
                 config.SSH_KEY.with_suffix(".pub").read_text()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def tarball(suite):
    return config.CACHE / f"{suite}.tar"


def lower_dir(suite):
    return config.CACHE / f"{suite}-root"


def pool_dir(suite):
    return config.CACHE / "repo" / suite


def ensure(suite):
    """Build (if needed) and unpack the suite's image; return the lower dir."""
    ensure_ssh_key()
    stamp = config.CACHE / f"{suite}.stamp"
    fingerprint = _fingerprint()
    current = stamp.read_text().strip() if stamp.exists() else ""
    if not tarball(suite).exists() or current != fingerprint:
        _build(suite)
        stamp.write_text(fingerprint + "\n")
        shutil.rmtree(lower_dir(suite), ignore_errors=True)
    if not (lower_dir(suite) / "etc" / "os-release").exists():
        _unpack(suite)
    return lower_dir(suite)


def _build(suite):
    say(f"building the {suite} image and its package pool (once; cached in {config.CACHE})")
    pool = pool_dir(suite)
    shutil.rmtree(pool, ignore_errors=True)
    pool.mkdir(parents=True)
    partial = config.CACHE / f"{suite}.building.tar"
    packages = " ".join(wanted_packages())
    mirrors = [
        f"deb {config.MIRROR} {suite} main",
        f"deb {config.MIRROR} {suite}-updates main",
        f"deb {config.SECURITY_MIRROR} {suite}-security main",
    ]
    sh([
        "mmdebstrap", "--mode=root", "--variant=minbase", "--quiet",
        f"--include={config.BASE_PACKAGES}",
        "--customize-hook=chroot \"$1\" apt-get install --download-only -y -q " + packages,
        f"--customize-hook=sync-out /var/cache/apt/archives {pool}",
        f"--customize-hook={config.IMAGE_HOOK} \"$1\" {config.SSH_KEY}.pub {config.repo_url(suite)}",
        suite, partial, *mirrors,
    ])
    for leftover in ("lock", "partial"):
        path = pool / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    _index(pool)
    partial.rename(tarball(suite))


def _index(pool):
    if not any(pool.glob("*.deb")):
        raise LabError(f"no packages were downloaded into {pool}")
    packages = sh(["apt-ftparchive", "packages", "."], cwd=pool, capture=True).stdout
    (pool / "Packages").write_text(packages)
    release = sh(["apt-ftparchive", "release", "."], cwd=pool, capture=True).stdout
    (pool / "Release").write_text(release)


def _unpack(suite):
    target = lower_dir(suite)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    say(f"unpacking the {suite} image")
    sh(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", tarball(suite), "-C", target])
