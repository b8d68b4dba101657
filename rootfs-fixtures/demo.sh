#!/bin/bash
# demo.sh: build rt, build the sample image (busybox + probe) from this
# folder, and run it with a memory and a CPU limit, printing what the
# container sees: its ids, namespaces, mounts and, read from inside, the
# limits in its own cgroup files. Run as root on a fresh Debian 12 machine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || die "run as root (it starts a container)"

bash "$REPO_DIR/tests/setup.sh"
echo "== building rt (release)"
(cd "$REPO_DIR" && cargo static --quiet)
RT=$REPO_DIR/target/x86_64-unknown-linux-gnu/release/rt

image=$TARGET_DIR/sample-image
if [ ! -e "$image/index.json" ]; then
    echo "== building the sample image"
    rm -rf "$image"
    "$FIXTURES_DIR/make-image.sh" "$image" >/dev/null
fi

root=$(mktemp -d /run/rt-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "== rt run --image $image --memory 64m --cpus 0.5"
"$RT" --root "$root" run --image "$image" --memory 64m --cpus 0.5 -- \
    /bin/sh -c '
        echo "hostname: $(hostname)    uid: $(id -u)    pid: $$"
        echo "--- /probe caps (effective)"; /probe caps | sed "s/.*\"effective\":\(\[[^]]*\]\).*/\1/"
        echo "--- mounts"; cat /proc/self/mounts | cut -d" " -f1-3 | head -12
        echo "--- cgroup limits seen from inside"
        if [ -f /sys/fs/cgroup/memory.max ]; then
            echo "memory.max: $(cat /sys/fs/cgroup/memory.max)"
            echo "cpu.max:    $(cat /sys/fs/cgroup/cpu.max)"
        else
            echo "memory.limit_in_bytes: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
            echo "cpu.cfs_quota_us/period: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)/$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
        fi'
