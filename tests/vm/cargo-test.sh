#!/bin/bash
# Build cargo test binaries on the host and run them inside the cgroup v2 VM,
# in one boot, together with the crate's binaries (target/debug/rt) so that
# env!("CARGO_BIN_EXE_rt") and CARGO_MANIFEST_DIR paths resolve in the guest.
#
#   tests/vm/cargo-test.sh [VM-OPTIONS] [CARGO-TEST-OPTIONS] [-- LIBTEST-ARGS]
#     VM-OPTIONS:  --file, --bin, --env, --timeout, --mem, --cpus, --verbose
#                  (as for run.sh; use them for fixtures and extra tools)
#     CARGO-TEST-OPTIONS: anything else, given to `cargo test --no-run`
#                  (e.g. --test cgroups_v2, --features x)
#     LIBTEST-ARGS: given to every test binary (e.g. --test-threads=1 name)
# Exit status: 0 if every binary passed, 101 if any failed, 124/125 as run.sh.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

vm_args=() cargo_args=() test_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--file | --bin | --env | --timeout | --mem | --cpus)
		[ $# -ge 2 ] || vm_die "$1 needs a value"
		vm_args+=("$1" "$2")
		shift 2
		;;
	--verbose) vm_args+=("$1") && shift ;;
	--) shift && test_args=("$@") && break ;;
	*) cargo_args+=("$1") && shift ;;
	esac
done

root=$(cd "$RT_VM_DIR/../.." && pwd)
cd "$root"

# The JSON artifact messages name every executable cargo produced; the
# profile's "test":true marks test harness binaries (the target's own "test"
# field only says whether cargo test would build it), the rest (kind bin) are the crate's
# programs that integration tests run.
executables() { # TEST(true|false) < cargo json
	grep -E "\"profile\":\{[^}]*\"test\":$1\}" | grep '"executable":"' |
		sed 's/.*"executable":"\([^"]*\)".*/\1/'
}
json=$(mktemp "${TMPDIR:-/tmp}/rt-vm-cargo.XXXXXX")
trap 'rm -f "$json"' EXIT
vm_log "building test binaries: cargo test --no-run ${cargo_args[*]-}"
cargo test --no-run --message-format=json ${cargo_args[@]+"${cargo_args[@]}"} >"$json" ||
	vm_die "cargo test --no-run failed"
tests=$(executables true <"$json")
[ -n "$tests" ] || vm_die "cargo built no test binary for: ${cargo_args[*]-}"
# cargo only rebuilds the bins when an integration test needs them; ask for
# them explicitly so their paths are known either way (a no-op when fresh).
cargo build --bins --message-format=json >"$json" || vm_die "cargo build --bins failed"
bins=$(executables false <"$json")

list=$(mktemp "${TMPDIR:-/tmp}/rt-vm-tests.XXXXXX")
trap 'rm -f "$json" "$list"' EXIT
echo "$tests" >"$list"

for b in $tests $bins; do vm_args+=(--bin "$b"); done
"$RT_VM_DIR/run.sh" ${vm_args[@]+"${vm_args[@]}"} \
	--file "$RT_VM_DIR/cargo-guest.sh:/rt-vm-cargo/run-tests.sh" \
	--file "$list:/rt-vm-cargo/tests" \
	--cwd "$root" --env "CARGO_MANIFEST_DIR=$root" --env RUST_BACKTRACE=1 \
	-- sh /rt-vm-cargo/run-tests.sh ${test_args[@]+"${test_args[@]}"}
