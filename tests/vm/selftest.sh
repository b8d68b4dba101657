#!/bin/bash
# Self-test of the cgroup v2 VM lane: one boot that checks, inside, the pure v2
# hierarchy, an OOM kill under memory.max, pivot_root, and runc running a
# busybox bundle with a memory limit (see selftest-guest.sh).
#   tests/vm/selftest.sh [--all]
# --all adds two short boots that check the harness itself: a command's exit
# status comes back, and a hung guest is stopped by --timeout with status 124.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

all=
case ${1:-} in
--all) all=1 ;;
"") ;;
*) vm_die "selftest.sh: unknown argument $1" ;;
esac

"$RT_VM_DIR/setup.sh"
vm_need runc runc

work=$(mktemp -d "${TMPDIR:-/tmp}/rt-vm-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A busybox bundle; the payload prints what the guest script greps for.
bundle=$work/bundle
mkdir -p "$bundle"/rootfs/{bin,proc,sys,dev,tmp}
cp /bin/busybox "$bundle/rootfs/bin/"
for a in sh cat dd echo grep; do ln -s busybox "$bundle/rootfs/bin/$a"; done
cat >"$bundle/config.json" <<'EOF'
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "sh", "-c",
      "echo max=$(cat /sys/fs/cgroup/memory.max); dd if=/dev/zero of=/dev/null bs=8M count=1 2>/dev/null; echo small=$?; dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo big=$?; grep oom_kill /sys/fs/cgroup/memory.events" ],
    "env": [ "PATH=/bin" ],
    "cwd": "/",
    "noNewPrivileges": true,
    "capabilities": {
      "bounding": [ "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    }
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "vm-selftest",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "cgroupsPath": "/vm-selftest-runc",
    "resources": { "memory": { "limit": 33554432 } },
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
      { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }
    ],
    "maskedPaths": [ "/proc/kcore", "/proc/keys", "/sys/firmware" ],
    "readonlyPaths": [ "/proc/sys", "/proc/sysrq-trigger" ]
  }
}
EOF

start=$(date +%s.%N)
"$RT_VM_DIR/run.sh" --timeout 300 --bin /usr/sbin/runc \
	--file "$RT_VM_DIR/selftest-guest.sh:/selftest/guest.sh" \
	--file "$bundle:/selftest/bundle" -- sh /selftest/guest.sh
vm_log "self-test boot: $(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')s in all"

[ -n "$all" ] || exit 0

set +e
"$RT_VM_DIR/run.sh" --timeout 120 -- sh -c 'echo exit-seven; exit 7'
rc=$?
set -e
[ $rc = 7 ] || vm_die "harness check failed: exit status 7 came back as $rc"
vm_log "harness check passed: exit status 7 came back"

set +e
"$RT_VM_DIR/run.sh" --timeout 15 -- sleep 1000
rc=$?
set -e
[ $rc = 124 ] || vm_die "harness check failed: a hung guest gave status $rc, want 124"
vm_log "harness check passed: a hung guest was stopped with status 124"
echo "vm-selftest harness: 2 passed, 0 failed"
