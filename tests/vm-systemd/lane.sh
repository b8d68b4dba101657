#!/bin/bash
# The systemd lane of tests/run-all: build rt's systemd and cgroup CLI tests
# on the host, then boot the systemd VM twice and run them there with
# RT_TEST_SYSTEMD=1 (every container under --systemd-cgroup), containerd's
# scenarios (ctr with the runc shim; the CRI with SystemdCgroup = true) and
# rootless containers under the user's systemd instance included: once on
# pure cgroup v2 (systemd's default), once on
# the hybrid layout systemd makes with systemd.unified_cgroup_hierarchy=0
# (v1 controllers, its own tracking in cgroup2 at /sys/fs/cgroup/unified).
# Extra arguments go to every test binary (libtest's).
#   tests/vm-systemd/lane.sh [--only v2|hybrid|legacy] [-- LIBTEST-ARGS]
# (legacy: systemd's pure v1 layout, no cgroup2 mount; not in the default
# run, to keep the lane to two boots)
# Exit status: 0 when every test binary passed in every boot, 101 when one
# failed, 124/125 as run.sh.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
modes="v2 hybrid"
if [ "${1:-}" = --only ]; then
	modes=${2:?--only needs v2, hybrid or legacy}
	shift 2
fi
[ "${1:-}" != -- ] || shift

root=$(cd "$SDVM_DIR/../.." && pwd)
cd "$root"
"$SDVM_DIR/setup.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/rt-sdvm-lane.XXXXXX")
trap 'rm -rf "$work"' EXIT

vm_log "building the test binaries"
cargo test --no-run --message-format=json --test cgroups_systemd --test cgroups_cli \
	--test systemd_rootless --test cri_systemd >"$work/build.json" ||
	vm_die "cargo test --no-run failed"
cargo build --quiet --bins || vm_die "cargo build failed"
tests=$(grep -E '"profile":\{[^}]*"test":true\}' "$work/build.json" | grep '"executable":"' |
	sed 's/.*"executable":"\([^"]*\)".*/\1/')
[ -n "$tests" ] || vm_die "cargo built no test binary"
rt=$root/target/debug/rt

# containerd's scenario imports the fixture image (busybox + the probe).
vm_log "building the sample image for containerd"
bash rootfs-fixtures/make-image.sh "$work/image" >/dev/null || vm_die "make-image.sh failed"
tar -C "$work/image" -cf "$work/image.tar" .
# The CRI harness builds its images from the same probe (no cargo in the guest).
probe=${CARGO_TARGET_DIR:-$root/target}/fixtures/x86_64-unknown-linux-gnu/release/probe
[ -x "$probe" ] || vm_die "make-image.sh left no probe at $probe"

echo "$tests" >"$work/tests"
cat >"$work/guest.sh" <<'EOF'
#!/bin/sh
# In the guest: each test binary in turn; 101 if any failed.
echo "rt-sdvm: cgroup layout: $(stat -fc %T /sys/fs/cgroup)$(test -d /sys/fs/cgroup/unified && echo ' + unified')"
failed=
while read -r t; do
	echo "     Running $t (systemd VM)"
	"$t" "$@" || failed="$failed $t"
done </rt-sdvm/tests
# Units the tests left failed (a scope rt did not reset) are worth a look.
systemctl --no-pager --failed --plain --no-legend | sed 's/^/rt-sdvm: failed unit: /'
if [ -n "$failed" ]; then
	echo "rt-sdvm: failed test binaries:$failed"
	exit 101
fi
EOF

args=()
for t in $tests; do args+=(--file "$t"); done
status=0
for mode in $modes; do
	case $mode in
	v2) append= ;;
	hybrid) append=systemd.unified_cgroup_hierarchy=0 ;;
	# Not in the default run (a third boot): v1 only, no cgroup2 at all.
	legacy) append="systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1" ;;
	*) vm_die "unknown mode $mode (v2, hybrid or legacy)" ;;
	esac
	vm_log "boot: systemd on $mode cgroups"
	set +e
	RT_VM_APPEND=$append "$SDVM_DIR/run.sh" "${args[@]}" --file "$rt" \
		--file "$work/tests:/rt-sdvm/tests" --file "$work/guest.sh:/rt-sdvm/guest.sh" \
		--file "$work/image.tar:/rt-sdvm/image.tar" --file "$probe:/rt-sdvm/probe" \
		--env RT_TEST_SYSTEMD=1 --env RT_TEST_IMAGE_TAR=/rt-sdvm/image.tar --env RUST_BACKTRACE=1 \
		--env RT_TEST_PROBE=/rt-sdvm/probe --env RT_TEST_SYSTEMD_USER="$SDVM_USER" \
		--cwd "$root" -- sh /rt-sdvm/guest.sh "$@"
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		vm_log "systemd on $mode cgroups: exit $rc"
		[ $status != 0 ] || status=$rc
	fi
done
exit $status
