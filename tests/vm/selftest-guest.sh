#!/bin/sh
# Runs inside the VM (selftest.sh copies it to /selftest/guest.sh): proves the
# guest is a pure cgroup v2 host on which memory limits bite and a real
# container runtime works. Exits non-zero if any check fails.

pass=0 fail=0
ok() {
	pass=$((pass + 1))
	echo "ok: $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
}
# check DESCRIPTION COMMAND...: the command's success is the check.
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

cg=/sys/fs/cgroup
ctrls=$(cat $cg/cgroup.controllers)
for c in memory cpu pids; do
	check "controller $c available ($ctrls)" sh -c "echo ' $ctrls ' | grep -q ' $c '"
done
sub=$(cat $cg/cgroup.subtree_control)
for c in memory cpu pids io cpuset hugetlb; do
	check "controller $c enabled for children ($sub)" sh -c "echo ' $sub ' | grep -q ' $c '"
done
check "/proc/self/cgroup is the single line 0::/" [ "$(cat /proc/self/cgroup)" = "0::/" ]
check "cgroup2 is mounted at /sys/fs/cgroup" \
	sh -c "grep -q '^cgroup2 /sys/fs/cgroup cgroup2 ' /proc/mounts"
check "no cgroup v1 hierarchy is mounted" sh -c "! grep -q ' cgroup ' /proc/mounts"
mkdir -p /tmp/v1
check "cgroup v1 cannot be mounted (cgroup_no_v1=all)" \
	sh -c '! mount -t cgroup -o memory none /tmp/v1 2>/dev/null'

# A memory limit must kill a process that allocates past it, and only then:
# dd's buffer is one malloc of bs bytes that read() from /dev/zero faults in.
t=$cg/vm-selftest-oom
if mkdir $t && echo 32M >$t/memory.max; then
	ok "child cgroup with memory.max=32M created"
	sh -c "echo \$\$ >$t/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null"
	check "an 8 MiB allocation fits under memory.max=32M" [ $? = 0 ]
	sh -c "echo \$\$ >$t/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null"
	rc=$?
	check "a 64 MiB allocation is killed by SIGKILL (exit $rc, want 137)" [ $rc = 137 ]
	check "memory.events counts the OOM kill ($(grep oom_kill $t/memory.events))" \
		grep -qx 'oom_kill 1' $t/memory.events
	check "the emptied child cgroup can be removed" rmdir $t
else
	bad "child cgroup with memory.max=32M created"
fi

# Runtimes pivot_root into the container's rootfs; that fails on an initramfs
# root unless init made / a real mount (init.sh does).
check "pivot_root works in a new mount namespace" unshare -m sh -c '
	mkdir -p /tmp/pr && mount -t tmpfs tmpfs /tmp/pr &&
	mkdir /tmp/pr/old /tmp/pr/bin && cp /bin/busybox /tmp/pr/bin/ &&
	cd /tmp/pr && pivot_root . old && exec /bin/busybox true'

# End to end: runc (copied in with its libraries by --bin) runs a busybox
# bundle whose config sets a 32 MiB memory limit; the container reports its
# own view of the limit and of an OOM kill inside it.
if [ -x /usr/sbin/runc ]; then
	runc --root /run/runc-selftest run --bundle /selftest/bundle vm-selftest >/tmp/runc.out 2>&1
	rc=$?
	sed 's/^/  runc| /' /tmp/runc.out
	check "runc run exits 0 (got $rc)" [ $rc = 0 ]
	check "the container sees memory.max=33554432" grep -qx 'max=33554432' /tmp/runc.out
	check "the container's 8 MiB allocation succeeds" grep -qx 'small=0' /tmp/runc.out
	check "the container's 64 MiB allocation is OOM-killed" grep -qx 'big=137' /tmp/runc.out
	check "the container's memory.events counts the kill" grep -qx 'oom_kill 1' /tmp/runc.out
	check "the container's cgroup is gone after runc run" [ ! -e $cg/vm-selftest-runc ]
	check "runc left no container state" [ -z "$(ls /run/runc-selftest 2>/dev/null)" ]
else
	bad "runc was not copied into the VM"
fi

echo "vm-selftest: $pass passed, $fail failed"
[ $fail = 0 ]
