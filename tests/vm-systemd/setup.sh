#!/bin/bash
# Prepare the systemd VM lane: host tools and a cached Debian 12 system with
# systemd as PID 1 (debootstrap from the Debian archive), as an ext4 image
# plus the kernel and initramfs Debian's own packages installed into it.
#
# Idempotent and cheap when the cache is in place (run.sh calls it on every
# run); only a missing image touches the network. Each version of this
# script and of guest/ has its own image directory ($SDVM_IMAGE, see
# lib.sh), built once; images no run has used for a week are removed.
#   tests/vm-systemd/setup.sh [--rebuild] [--quiet]
# Environment: RT_SDVM_CACHE (default /var/cache/rt-vm-systemd),
# RT_SDVM_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

rebuild= quiet=
for a in "$@"; do
	case $a in
	--rebuild) rebuild=1 ;;
	--quiet) quiet=1 ;;
	*) vm_die "setup.sh: unknown argument $a" ;;
	esac
done
say() { [ -n "$quiet" ] || vm_log "$@"; }

vm_need qemu-system-x86_64 qemu-system-x86 debootstrap debootstrap mkfs.ext4 e2fsprogs \
	sha256sum coreutils

# What the guest runs: systemd as PID 1 with the system bus, udev (for
# /dev/block/MAJ:MIN, which systemd's IO limits name devices by), Debian's
# cloud kernel with its modules (overlayfs for containerd) and an initramfs
# that can mount a virtio disk, containerd with its runc shim and ctr, runc
# for differential checks, a static busybox for the test bundles and procps
# for `rt ps`; the user session bus (dbus-user-session, which brings
# pam_systemd) for rootless containers under the user's systemd instance;
# the CNI plugins and iproute2 for containerd's CRI plugin (tests/cri).
packages=systemd,systemd-sysv,dbus,udev,kmod,linux-image-cloud-amd64,initramfs-tools
packages+=,containerd,runc,busybox-static,procps
packages+=,dbus-user-session,containernetworking-plugins,iproute2
mirror=${RT_SDVM_MIRROR:-http://deb.debian.org/debian}

mkdir -p "$SDVM_CACHE"
img=$SDVM_IMAGE
ready() { [ -s "$img/stamp" ] && [ -s "$img/root.ext4" ] && [ -s "$img/vmlinuz" ] && [ -s "$img/initrd.img" ]; }
if [ -z "$rebuild" ] && ready; then
	touch "$img/used"
	say "ready: $(cat "$img/kernel-version"), image $img"
	exit 0
fi
# One build at a time (parallel lanes wait for the first one's image).
exec 9>"$SDVM_CACHE/build.lock"
flock 9
if [ -z "$rebuild" ] && ready; then
	touch "$img/used"
	say "ready: $(cat "$img/kernel-version"), image $img"
	exit 0
fi
# Images of other versions unused for a week, and not booted right now
# (run.sh holds a shared lock on their lock file while qemu runs).
for old in "$SDVM_CACHE"/img-*; do
	[ -d "$old" ] && [ "$old" != "$img" ] || continue
	[ -z "$(find "$old/used" -mtime -7 2>/dev/null)" ] || continue
	if flock -n -x "$old/lock" true 2>/dev/null || [ ! -e "$old/lock" ]; then
		say "removing the unused image $old"
		rm -rf "$old"
	fi
done

start=$(date +%s)
mkdir -p "$img"
rm -f "$img/stamp"
tree=$(mktemp -d "$SDVM_CACHE/tree.XXXXXX")
cleanup() {
	# debootstrap leaves /proc and /sys of the tree mounted when it fails.
	for m in proc sys dev/pts dev; do umount -l "$tree/$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$tree"
}
trap cleanup EXIT
say "debootstrap of Debian 12 into $tree (takes a few minutes)"
debootstrap --variant=minbase --include="$packages" bookworm "$tree" "$mirror" \
	>"$img/debootstrap.log" 2>&1 ||
	vm_die "debootstrap failed; see $img/debootstrap.log"

say "configuring the guest"
echo rt-sdvm >"$tree/etc/hostname"
printf '127.0.0.1 localhost rt-sdvm\n::1 localhost\n' >"$tree/etc/hosts"
echo '/dev/vda / ext4 rw,noatime 0 0' >"$tree/etc/fstab"
install -m 0755 "$SDVM_DIR/guest/rt-vm-run" "$tree/usr/local/sbin/rt-vm-run"
install -m 0644 "$SDVM_DIR/guest/rt-vm-run.service" "$tree/etc/systemd/system/rt-vm-run.service"
ln -sf /etc/systemd/system/rt-vm-run.service "$tree/etc/systemd/system/multi-user.target.wants/rt-vm-run.service"
# Nothing but the payload should compete for the guest's (emulated) CPUs:
# no logins on the consoles, no periodic jobs, and containerd is started by
# the tests with their own configuration.
for u in getty.target serial-getty@.service getty@.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service \
	containerd.service; do
	ln -sf /dev/null "$tree/etc/systemd/system/$u"
done
# The journal only in memory: the root disk is a throw-away snapshot anyway.
mkdir -p "$tree/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$tree/etc/systemd/journald.conf.d/rt-vm.conf"
# The rootless tests' user, with lingering on: logind starts its
# user@.service (its systemd instance and session bus) at boot. No
# password: nothing logs in, the tests switch to it as root.
echo "$SDVM_USER:x:$SDVM_UID:$SDVM_UID:rt lane user:/home/$SDVM_USER:/bin/sh" >>"$tree/etc/passwd"
echo "$SDVM_USER:x:$SDVM_UID:" >>"$tree/etc/group"
echo "$SDVM_USER:*:19000:0:99999:7:::" >>"$tree/etc/shadow"
install -d -o "$SDVM_UID" -g "$SDVM_UID" -m 0755 "$tree/home/$SDVM_USER"
mkdir -p "$tree/var/lib/systemd/linger"
: >"$tree/var/lib/systemd/linger/$SDVM_USER"
# An empty machine-id is filled in at every boot (no first-boot wizard).
: >"$tree/etc/machine-id"
rm -rf "$tree/var/cache/apt/archives/"*.deb "$tree/var/lib/apt/lists/"*

kernel=$(find "$tree/boot" -name 'vmlinuz-*' | head -n1)
initrd=$(find "$tree/boot" -name 'initrd.img-*' | head -n1)
{ [ -n "$kernel" ] && [ -n "$initrd" ]; } || vm_die "the image has no /boot/vmlinuz-* and initrd.img-*"
basename "$kernel" | sed 's/^vmlinuz-//' >"$img/kernel-version"

say "writing the ext4 image"
rm -f "$img/root.ext4"
mkfs.ext4 -q -L rt-sdvm -d "$tree" "$img/root.ext4" 3G ||
	vm_die "mkfs.ext4 -d failed"
cp "$kernel" "$img/vmlinuz"
cp "$initrd" "$img/initrd.img"
touch "$img/used" "$img/lock"
echo "$SDVM_STAMP" >"$img/stamp"
say "image built in $(($(date +%s) - start))s: $(du -h --apparent-size "$img/root.ext4" | cut -f1) apparent, $(du -h "$img/root.ext4" | cut -f1) used"
