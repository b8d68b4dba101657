#!/bin/bash
# Prepare the systemd VM lane: host tools and a cached Debian 12 system with
# systemd as PID 1 (debootstrap from the Debian archive), as an ext4 image
# plus the kernel and initramfs Debian's own packages installed into it.
#
# Idempotent and cheap when the cache is in place (run.sh calls it on every
# run); only a missing or outdated image touches the network. The image is
# rebuilt when this script, the package list or a file under guest/ changes.
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
# for `rt ps`.
packages=systemd,systemd-sysv,dbus,udev,kmod,linux-image-cloud-amd64,initramfs-tools
packages+=,containerd,runc,busybox-static,procps
mirror=${RT_SDVM_MIRROR:-http://deb.debian.org/debian}

mkdir -p "$SDVM_CACHE"
stamp=$(cat "$0" "$SDVM_DIR"/guest/* | sha256sum | cut -d' ' -f1)
if [ -z "$rebuild" ] && [ "$(cat "$SDVM_CACHE/stamp" 2>/dev/null)" = "$stamp" ] &&
	[ -s "$SDVM_CACHE/root.ext4" ] && [ -s "$SDVM_CACHE/vmlinuz" ] && [ -s "$SDVM_CACHE/initrd.img" ]; then
	say "ready: $(cat "$SDVM_CACHE/kernel-version"), cache $SDVM_CACHE"
	exit 0
fi

start=$(date +%s)
tree=$(mktemp -d "$SDVM_CACHE/tree.XXXXXX")
cleanup() {
	# debootstrap leaves /proc and /sys of the tree mounted when it fails.
	for m in proc sys dev/pts dev; do umount -l "$tree/$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$tree"
}
trap cleanup EXIT
say "debootstrap of Debian 12 into $tree (takes a few minutes)"
debootstrap --variant=minbase --include="$packages" bookworm "$tree" "$mirror" \
	>"$SDVM_CACHE/debootstrap.log" 2>&1 ||
	vm_die "debootstrap failed; see $SDVM_CACHE/debootstrap.log"

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
# An empty machine-id is filled in at every boot (no first-boot wizard).
: >"$tree/etc/machine-id"
rm -rf "$tree/var/cache/apt/archives/"*.deb "$tree/var/lib/apt/lists/"*

kernel=$(find "$tree/boot" -name 'vmlinuz-*' | head -n1)
initrd=$(find "$tree/boot" -name 'initrd.img-*' | head -n1)
{ [ -n "$kernel" ] && [ -n "$initrd" ]; } || vm_die "the image has no /boot/vmlinuz-* and initrd.img-*"
basename "$kernel" | sed 's/^vmlinuz-//' >"$SDVM_CACHE/kernel-version.new"

say "writing the ext4 image"
rm -f "$SDVM_CACHE/root.ext4.new"
mkfs.ext4 -q -L rt-sdvm -d "$tree" "$SDVM_CACHE/root.ext4.new" 3G ||
	vm_die "mkfs.ext4 -d failed"
cp "$kernel" "$SDVM_CACHE/vmlinuz.new"
cp "$initrd" "$SDVM_CACHE/initrd.img.new"
for f in root.ext4 vmlinuz initrd.img kernel-version; do
	mv "$SDVM_CACHE/$f.new" "$SDVM_CACHE/$f"
done
echo "$stamp" >"$SDVM_CACHE/stamp"
say "image built in $(($(date +%s) - start))s: $(du -h --apparent-size "$SDVM_CACHE/root.ext4" | cut -f1) apparent, $(du -h "$SDVM_CACHE/root.ext4" | cut -f1) used"
