#!/bin/busybox sh
# shellcheck shell=dash
# /init of the rt cgroup-v2 test VM (copied into the base initramfs by setup.sh).
#
# Contract with run.sh (the host side):
#   /rt-vm/tag   one line, a per-run random tag; every line this script prints
#                for the host starts with it, so command output cannot fake them
#   /rt-vm/env   sh assignments (export K=V) for the command
#   /rt-vm/cwd   directory to run the command in
#   /rt-vm/cmd   sh script that execs the command
# Lines for the host (on ttyS0):  "<tag> ready <uptime>"  and
# "<tag> exit <code>". A guest that dies before "exit" (panic, init failure)
# shows up on the host as a failure, with the kernel log (ttyS1) to explain.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

fail() {
	echo "rt-vm init: $*" >&2
	# No exit line: the host reports a boot failure and shows this message.
	poweroff -f
	sleep 5
}

if [ "$1" != stage2 ]; then
	# The initramfs root cannot be pivot_root'ed away, and container runtimes
	# inside (runc, rt) pivot_root into their rootfs, which fails with EINVAL
	# while / is the initramfs itself. Make / a bind mount of the initramfs
	# and chroot into it: then the root is an ordinary mount.
	mkdir -p /.rt-vm-root || fail "mkdir /.rt-vm-root failed"
	mount --bind / /.rt-vm-root || fail "bind mount of / failed"
	cd /.rt-vm-root || fail "cd /.rt-vm-root failed"
	mount --move . / || fail "moving the bind mount over / failed"
	# shellcheck disable=SC2093 # fail runs only if exec itself fails
	exec chroot . /init stage2
	fail "chroot into the bind-mounted root failed"
fi

mount -t proc proc /proc || fail "mount /proc failed"
mount -t sysfs sysfs /sys || fail "mount /sys failed"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev failed"
# The kernel's console is ttyS1 (a log file on the host); ttyS0 is the host's
# stdout and carries only what this script and the command print.
exec </dev/null >/dev/ttyS0 2>&1 || fail "cannot open /dev/ttyS0"
# Same options systemd uses on a pure v2 host, so the VM looks like a real one.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
	fail "mount cgroup2 on /sys/fs/cgroup failed"
mkdir -p /dev/pts /dev/shm /dev/mqueue /tmp /run /var/tmp /root
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts ||
	fail "mount /dev/pts failed"
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "mount /dev/shm failed"
mount -t mqueue mqueue /dev/mqueue || fail "mount /dev/mqueue failed"
# /tmp and /run stay directories of the root (itself a tmpfs): a tmpfs
# mounted over them would hide payload files passed in under /tmp or /run.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
hostname rt-vm
ip link set lo up 2>/dev/null

# Controllers are only usable by child cgroups once enabled in the root's
# subtree_control; a systemd host does this too. Enable every one the kernel
# offers (memory, cpu, pids, io, cpuset, hugetlb, rdma, misc on Debian's kernel).
# One write for all of them; read and echo are shell builtins, and every fork
# of busybox costs tens of milliseconds under TCG.
read -r ctrls </sys/fs/cgroup/cgroup.controllers
enable=
for c in $ctrls; do enable="$enable +$c"; done
echo "$enable" >/sys/fs/cgroup/cgroup.subtree_control ||
	fail "enabling controllers ($enable) in the root cgroup failed"

{ [ -r /rt-vm/tag ] && [ -r /rt-vm/cmd ]; } || fail "no payload (/rt-vm/cmd) in the initramfs"
read -r tag </rt-vm/tag
read -r up _ </proc/uptime
echo "$tag ready $up"

cwd=/
[ -r /rt-vm/cwd ] && read -r cwd </rt-vm/cwd
# A subshell keeps the command's environment and cwd away from this script.
(
	export HOME=/root TERM=dumb
	# shellcheck disable=SC1091 # written by run.sh
	[ -r /rt-vm/env ] && . /rt-vm/env
	cd "$cwd" || exit 125
	exec /bin/sh /rt-vm/cmd
) </dev/null
rc=$?
sync
echo "$tag exit $rc"
# The exit line goes through the tty's transmit buffer; give the UART time to
# drain it before powering off, or the host may never see it.
sleep 0.2
poweroff -f
sleep 5
