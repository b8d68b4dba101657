#!/bin/sh
# Runs inside the VM for cargo-test.sh: each test binary listed in
# /rt-vm-cargo/tests, in order, with the libtest arguments given to this
# script. One boot serves all binaries; the exit status is 101 (cargo's) if
# any binary failed, so a failure is never hidden by a later success.
failed=
while read -r t; do
	echo "     Running $t (cgroup v2 VM)"
	"$t" "$@"
	rc=$?
	if [ $rc != 0 ]; then
		echo "rt-vm: $t exited with status $rc"
		failed="$failed $t"
	fi
done </rt-vm-cargo/tests
if [ -n "$failed" ]; then
	echo "rt-vm: failed test binaries:$failed"
	exit 101
fi
