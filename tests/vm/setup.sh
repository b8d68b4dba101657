#!/bin/bash
# Prepare the cgroup-v2 VM lane: host tools, a cached Debian cloud kernel, and
# the base initramfs (busybox + tests/vm/init.sh).
#
# Idempotent and cheap when everything is in place (run.sh calls it on every
# run); only a missing piece touches apt.
#   tests/vm/setup.sh [--refresh-kernel] [--quiet]
# Environment: RT_VM_CACHE (default /var/cache/rt-vm).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

refresh=
quiet=
for a in "$@"; do
	case $a in
	--refresh-kernel) refresh=1 ;;
	--quiet) quiet=1 ;;
	*) vm_die "setup.sh: unknown argument $a" ;;
	esac
done
say() { [ -n "$quiet" ] || vm_log "$@"; }

vm_need qemu-system-x86_64 qemu-system-x86 cpio cpio sha256sum coreutils

# The guest needs a static busybox: nothing else is in the initramfs to
# satisfy a dynamic one's libraries. Debian's busybox-static ships it as
# /bin/busybox (replacing the dynamic busybox package if that is installed).
busybox=/bin/busybox
if ! [ -x $busybox ] || ldd $busybox >/dev/null 2>&1; then
	say "installing busybox-static"
	vm_apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2 ||
		vm_die "apt-get install busybox-static failed"
	ldd $busybox >/dev/null 2>&1 && vm_die "$busybox is still dynamically linked"
fi

mkdir -p "$RT_VM_CACHE"

# --- kernel -----------------------------------------------------------------
# Debian's cloud flavour has cgroup v2 with every controller, the 8250 serial
# console, devtmpfs and initramfs support built in (no modules needed) and is
# small. qemu boots its bzImage directly with -kernel.
fetch_kernel() {
	vm_apt_update
	local pkg
	pkg=${RT_VM_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)}
	[ -n "$pkg" ] || vm_die "cannot resolve the package behind linux-image-cloud-amd64"
	say "downloading $pkg"
	local tmp
	tmp=$(mktemp -d "$RT_VM_CACHE/fetch.XXXXXX")
	# apt's download sandbox user cannot write into a root-only mktemp dir.
	(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
		vm_die "apt-get download $pkg failed"
	dpkg -x "$tmp"/*.deb "$tmp/x" || vm_die "unpacking $pkg failed"
	local img cfg
	img=$(find "$tmp/x/boot" -name 'vmlinuz-*' | head -n1)
	cfg=$(find "$tmp/x/boot" -name 'config-*' | head -n1)
	{ [ -n "$img" ] && [ -n "$cfg" ]; } || vm_die "$pkg has no /boot/vmlinuz-* and config"
	# The lane relies on these being built in: there is no module loading in
	# the guest. Fail here with a clear message rather than at boot.
	local opt
	for opt in CGROUPS MEMCG CGROUP_PIDS CGROUP_SCHED CPUSETS BLK_CGROUP \
		CGROUP_HUGETLB DEVTMPFS BLK_DEV_INITRD SERIAL_8250_CONSOLE TMPFS; do
		grep -qx "CONFIG_$opt=y" "$cfg" || vm_die "$pkg lacks CONFIG_$opt=y"
	done
	cp "$img" "$RT_VM_CACHE/vmlinuz.new"
	cp "$cfg" "$RT_VM_CACHE/kernel-config"
	mv "$RT_VM_CACHE/vmlinuz.new" "$RT_VM_CACHE/vmlinuz"
	basename "$img" | sed 's/^vmlinuz-//' >"$RT_VM_CACHE/kernel-version"
	rm -rf "$tmp"
}
if [ -n "$refresh" ] || ! [ -s "$RT_VM_CACHE/vmlinuz" ]; then
	fetch_kernel
fi

# --- base initramfs ------------------------------------------------------------
# Rebuilt whenever init.sh, this script or busybox changes: the stamp is
# their hash.
stamp=$(cat "$RT_VM_DIR/init.sh" "$0" $busybox | sha256sum | cut -d' ' -f1)
if [ "$(cat "$RT_VM_CACHE/base.stamp" 2>/dev/null)" != "$stamp" ] || ! [ -s "$RT_VM_CACHE/base.cpio" ]; then
	say "building base initramfs"
	root=$(mktemp -d "$RT_VM_CACHE/base.XXXXXX")
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt,var/tmp}
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 0700 "$root/root"
	cp $busybox "$root/bin/busybox"
	# Pre-made applet links (instead of busybox --install at boot) keep the
	# guest's boot short and let payload files replace single applets.
	$busybox --list-full | while read -r p; do
		[ "$p" = bin/busybox ] || ln -sf /bin/busybox "$root/$p"
	done
	install -m 0755 "$RT_VM_DIR/init.sh" "$root/init"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf '127.0.0.1 localhost rt-vm\n::1 localhost\n' >"$root/etc/hosts"
	# The kernel opens /dev/console for init before devtmpfs is mounted.
	mknod -m 0600 "$root/dev/console" c 5 1
	# The "." entry sets the mode of the guest's / (the kernel's rootfs is
	# 1777 otherwise), so it must not keep the mktemp dir's 0700.
	chmod 0755 "$root"
	(cd "$root" && { echo .; find . -mindepth 1 -printf '%P\n'; } | cpio -o -H newc --quiet) \
		>"$RT_VM_CACHE/base.cpio.new"
	mv "$RT_VM_CACHE/base.cpio.new" "$RT_VM_CACHE/base.cpio"
	echo "$stamp" >"$RT_VM_CACHE/base.stamp"
	rm -rf "$root"
fi

say "ready: kernel $(cat "$RT_VM_CACHE/kernel-version"), cache $RT_VM_CACHE"
