#!/bin/sh
# mmdebstrap customize hook: turns a fresh minbase root into a lab host image.
# Usage: image-hook.sh ROOT PUBKEY REPO_URL
# Runs once per image build, not per host: per-host things (hostname, ssh host
# keys, address) are set by the lab when a host is created.
set -eu
root=$1 pubkey=$2 repo_url=$3

# Packages come only from the lab's offline repository on the bridge address.
rm -f "$root/etc/apt/sources.list.d/"*.sources "$root/etc/apt/sources.list.d/"*.list
echo "deb [trusted=yes] $repo_url ./" > "$root/etc/apt/sources.list"
rm -f "$root/var/cache/apt/archives/"*.deb

# Root logs in with the lab key only.
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$pubkey" "$root/root/.ssh/authorized_keys"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
    > "$root/etc/ssh/sshd_config.d/lab.conf"
rm -f "$root/etc/ssh/ssh_host_"*

# Name resolution goes to the lab's own DNS server, nothing else.
rm -f "$root/etc/resolv.conf"
echo "nameserver 198.18.0.1" > "$root/etc/resolv.conf"

# No timers that would reach for the network or churn apt in the background.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
            systemd-networkd-wait-online.service systemd-timesyncd.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

# Each host gets its own machine id at first boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
