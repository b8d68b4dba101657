#!/bin/bash
# supervisor.sh [SECONDS]: the idle cost of keeping one container running,
# rt's supervisor (`rt run -d --restart always`) against conmon (podman
# from Debian, private --root/--runroot/tmp dir, runc as its runtime), for
# the same container (busybox + probe, `/probe sleep`). After a settling
# second, samples each monitor's memory (/proc/PID/status, smaps_rollup)
# and CPU time and context switches over SECONDS (default 30): an idle
# monitor that never wakes shows 0 ticks and 0 switches. A third row is
# rt's supervisor with a health probe every second (timers only for
# probes, so that one does wake).
#   sudo benches/supervisor.sh 30
# Needs: cargo static (or RT=path), podman, umoci (tests/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
RT=${RT:-$PWD/target/x86_64-unknown-linux-gnu/release/rt}
[ -x "$RT" ] || { echo "build rt first: cargo static" >&2; exit 1; }
# Lower case only: podman names the image after its path.
dir=/tmp/rt-supbench-$$
mkdir -p "$dir"
podman_base=(podman --root "$dir/podman/root" --runroot "$dir/podman/runroot"
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file
    --runtime /usr/sbin/runc)
export CONTAINERS_CONF=$dir/podman/containers.conf

cleanup() {
    "$RT" --root "$dir/rt" delete --force sb-rt >/dev/null 2>&1 || true
    "$RT" --root "$dir/rt" delete --force sb-rt-health >/dev/null 2>&1 || true
    "${podman_base[@]}" rm --all --force >/dev/null 2>&1 || true
    "${podman_base[@]}" rmi --all --force >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/podman"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = []
[engine]
lock_type = "file"
tmp_dir = "$dir/podman/tmp"
EOF
rootfs-fixtures/make-bundle.sh "$dir/bundle" /probe sleep 1000000 >/dev/null
rootfs-fixtures/make-image.sh "$dir/image" >/dev/null

"$RT" --root "$dir/rt" run -d --restart always --bundle "$dir/bundle" sb-rt
"$RT" --root "$dir/rt" run -d --restart always --bundle "$dir/bundle" \
    --health-cmd '["/probe","exit","0"]' --health-interval 1s sb-rt-health
sup_pid() { "$RT" --root "$dir/rt" inspect "$1" | sed -n 's/.*"supervisorPid": \([0-9]*\).*/\1/p'; }
rt_pid=$(sup_pid sb-rt)
rth_pid=$(sup_pid sb-rt-health)
"${podman_base[@]}" run -d --name sb --restart always --network none \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    "oci:$dir/image:latest" /probe sleep 1000000 >/dev/null 2>&1
conmon_pid=$("${podman_base[@]}" inspect --format '{{.State.ConmonPid}}' sb)

field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
pss() { awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
switches() { echo $(($(field "$1" voluntary_ctxt_switches) + $(field "$1" nonvoluntary_ctxt_switches))); }

sleep 1
declare -A t0 s0
for p in "$rt_pid" "$rth_pid" "$conmon_pid"; do
    t0[$p]=$(ticks "$p")
    s0[$p]=$(switches "$p")
done
sleep "$secs"
printf '%-34s %9s %9s %9s %9s %8s %9s\n' monitor "RSS KiB" "anon" "file" "PSS KiB" "CPU ms" "switches"
row() {
    local name=$1 p=$2
    printf '%-34s %9s %9s %9s %9s %8s %9s\n' "$name" "$(field "$p" VmRSS)" \
        "$(field "$p" RssAnon)" "$(field "$p" RssFile)" "$(pss "$p")" \
        "$((($(ticks "$p") - ${t0[$p]}) * 10))" "$(($(switches "$p") - ${s0[$p]}))"
}
row "rt supervisor" "$rt_pid"
row "conmon $(conmon --version | awk 'NR==1 { print $3 }')" "$conmon_pid"
row "rt supervisor, probe every 1s" "$rth_pid"
echo "(over $secs s idle; rt $("$RT" --version | awk '{ print $2 }'), $(uname -r))"
