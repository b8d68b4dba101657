#!/bin/bash
# Run one command as root inside a throw-away VM booted on a pure cgroup v2
# kernel (cgroup2 at /sys/fs/cgroup, every controller enabled in the root's
# subtree_control), streaming its console to stdout and exiting with the
# command's exit code. See tests/vm/README.md.
#
#   tests/vm/run.sh [options] -- COMMAND [ARG]...
#     --file HOST[:VM]  copy a file or directory in (VM path defaults to HOST's
#                       absolute path, so compiled-in paths keep working)
#     --bin HOST[:VM]   like --file, plus the ELF's shared libraries and loader
#                       (as ldd resolves them on the host) at the same paths
#     --env NAME=VALUE  set in the command's environment (repeatable)
#     --cwd DIR         directory to run the command in (default /)
#     --timeout SECS    whole-VM limit, boot included (default 600)
#     --mem MIB         guest memory (default 2048)
#     --cpus N          guest vCPUs (default 2)
#     --verbose         print the kernel's log after the run (a failure
#                       prints its tail anyway)
# Exit status: the command's, or 124 on timeout, 125 when the VM or this
# script failed before the command could report (a message says which).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

timeout=600 mem=2048 cpus=2 verbose='' cwd=/
files=() bins=() envs=()
while [ $# -gt 0 ]; do
	case $1 in
	--file | --bin | --env | --cwd | --timeout | --mem | --cpus)
		[ $# -ge 2 ] || vm_die "$1 needs a value"
		case $1 in
		--file) files+=("$2") ;;
		--bin) bins+=("$2") ;;
		--env) envs+=("$2") ;;
		--cwd) cwd=$2 ;;
		--timeout) timeout=$2 ;;
		--mem) mem=$2 ;;
		--cpus) cpus=$2 ;;
		esac
		shift 2
		;;
	--verbose) verbose=1 && shift ;;
	--) shift && break ;;
	*) vm_die "unknown argument $1 (the command goes after --)" ;;
	esac
done
[ $# -gt 0 ] || vm_die "no command given (usage: run.sh [options] -- COMMAND...)"
for n in "$timeout" "$mem" "$cpus"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || vm_die "not a positive integer: $n"
done

"$RT_VM_DIR/setup.sh" --quiet

work=$(mktemp -d "${TMPDIR:-/tmp}/rt-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/root
mkdir -p "$stage/rt-vm"

# Split HOST[:VM]; a relative HOST maps to its absolute path in the guest.
host_of() { echo "${1%%:*}"; }
vm_of() {
	[ -e "${1%%:*}" ] || vm_die "no such file or directory: ${1%%:*}"
	case $1 in
	*:*) echo "${1#*:}" ;;
	*) realpath -s "$1" ;;
	esac
}

# Copy HOST to VM inside the staging root. -H follows a symlink named on the
# command line (the caller means its target) but keeps symlinks inside
# directories, which busybox-style rootfs trees are made of.
stage_path() {
	local host=$1 vm=$2
	[ -e "$host" ] || vm_die "no such file or directory: $host"
	case $vm in /*) ;; *) vm_die "guest path must be absolute: $vm" ;; esac
	if [ -d "$host" ]; then
		mkdir -p "$stage$vm"
		cp -aH "$host/." "$stage$vm/"
	else
		mkdir -p "$stage$(dirname "$vm")"
		cp -aH "$host" "$stage$vm"
	fi
}

# The libraries an ELF needs, as the host's loader resolves them, plus the
# loader itself. Static binaries have none (ldd then fails: not an error).
shared_libs() {
	local out
	out=$(ldd "$1" 2>&1) || return 0
	if grep -q 'not found' <<<"$out"; then
		vm_die "$1: missing libraries on the host: $(grep 'not found' <<<"$out" | tr -s ' \t\n' ' ')"
	fi
	# "libx.so.1 => /path (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)".
	sed -n -e 's/^.*=> \(\/[^ ]*\) (0x.*$/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*$/\1/p' <<<"$out"
}

# (Plain assignments around the $(...) so that a vm_die inside them stops
# this script; in a command's arguments the failure would go unnoticed.)
for f in ${files[@]+"${files[@]}"}; do
	h=$(host_of "$f") v=$(vm_of "$f")
	stage_path "$h" "$v"
done
for b in ${bins[@]+"${bins[@]}"}; do
	h=$(host_of "$b") v=$(vm_of "$b")
	stage_path "$h" "$v"
	libs=$(shared_libs "$h")
	for lib in $libs; do
		# Copy the library's content (not the soname symlink) to the path the
		# binary asks for; the guest's loader finds it in its default dirs.
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
done

# Directories made above only as parents get mkdir's 0755, and the kernel
# applies an archive's directory modes to existing directories too: give the
# base image's special ones their modes back.
for d in tmp var/tmp; do [ ! -d "$stage/$d" ] || chmod 1777 "$stage/$d"; done
[ ! -d "$stage/root" ] || chmod 0700 "$stage/root"

# The tag makes the harness's own lines impossible to forge by accident.
tag=RTVM-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "$tag" >"$stage/rt-vm/tag"
echo "$cwd" >"$stage/rt-vm/cwd"
# Single-quote every word so the guest's sh sees exactly the host's argv.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(sq "$a")"; done
	echo
} >"$stage/rt-vm/cmd"
for e in ${envs[@]+"${envs[@]}"}; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || vm_die "--env wants NAME=VALUE, got: $e"
	echo "export ${e%%=*}=$(sq "${e#*=}")"
done >"$stage/rt-vm/env"

# Linux unpacks concatenated cpio archives in order, later entries winning, so
# the payload is simply appended to the cached base. Left uncompressed: the
# guest then only copies it, and guest CPU time is the scarce thing under TCG.
(cd "$stage" && find . -mindepth 1 -printf '%P\n' | cpio -o -H newc --quiet) >"$work/payload.cpio"
cat "$RT_VM_CACHE/base.cpio" "$work/payload.cpio" >"$work/initrd"

# cgroup_no_v1=all leaves only the unified hierarchy; the systemd flag is for
# payloads that look at the command line. The timer/lpj flags skip delay-loop
# calibration and clocksource checks that are slow and pointless under TCG.
# The kernel logs to ttyS1 (a file), so stdout carries only the command's
# output; a soft lockup panics, and a panic stops the VM, instead of hanging.
append="console=ttyS1 panic=-1 softlockup_panic=1 cgroup_no_v1=all"
append+=" systemd.unified_cgroup_hierarchy=1"
append+=" mitigations=off nokaslr tsc=reliable no_timer_check lpj=5000000"
append+=" ${RT_VM_APPEND:-}" # extra kernel arguments, for debugging

# KVM here is PVM-backed and cannot run a stock kernel, so TCG is the default;
# qemu64 is about twice as fast as -cpu max under TCG. Override on hosts with
# a usable KVM: RT_VM_ACCEL=kvm RT_VM_CPU=host.
accel=${RT_VM_ACCEL:-tcg,thread=multi}
cpu=${RT_VM_CPU:-qemu64}

# A boot takes 3-6 s, more on a loaded machine; one that has not reached the
# command after boot_timeout is treated as hung and retried (this has been
# seen once under heavy load, with no console output to explain it).
boot_timeout=${RT_VM_BOOT_TIMEOUT:-90}
attempts=$((1 + ${RT_VM_BOOT_RETRIES:-1}))

log=$work/console.log klog=$work/kernel.log pidfile=$work/qemu.pid
# What the user sees: the console minus the harness's tagged lines. The full
# console stays in $log for parsing.
show=(-e "/^$tag /d" -e "s/$tag .*//")
stop_qemu() { [ ! -s "$pidfile" ] || kill "$(cat "$pidfile")" 2>/dev/null || true; }
trap 'stop_qemu; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
kernel_tail() {
	vm_log "last kernel messages:"
	tail -n "${1:-25}" "$klog" | sed 's/\r$//; s/^/  | /' >&2
}

# One boot. Sets status (of timeout/qemu), ready, rc; returns 1 on a boot
# that never reached the command within boot_timeout.
boot() {
	: >"$log"
	: >"$klog"
	rm -f "$pidfile"
	(
		set -o pipefail
		timeout -k 5 "$timeout" qemu-system-x86_64 -M pc -accel "$accel" \
			-cpu "$cpu" -m "$mem" -smp "$cpus" -nodefaults -display none \
			-no-reboot -pidfile "$pidfile" \
			-serial stdio -serial "file:$klog" \
			-kernel "$RT_VM_CACHE/vmlinuz" -initrd "$work/initrd" \
			-append "$append" </dev/null |
			sed -u 's/\r$//' | tee "$log" | sed -u "${show[@]}"
	) &
	local pipe=$! waited=0
	while ! grep -q "^$tag ready" "$log"; do
		kill -0 $pipe 2>/dev/null || break
		if [ $waited -ge $((boot_timeout * 5)) ]; then
			stop_qemu
			wait $pipe
			return 1
		fi
		sleep 0.2
		waited=$((waited + 1))
	done
	set +e
	wait $pipe
	status=$?
	set -e
	ready=$(sed -n "s/^$tag ready \([0-9.]*\).*/\1/p" "$log" | head -n1)
	rc=$(sed -n "s/.*$tag exit \([0-9]*\).*/\1/p" "$log" | tail -n1)
}

start=$(date +%s.%N)
for attempt in $(seq 1 $attempts); do
	boot && break
	vm_log "the guest did not finish booting within ${boot_timeout}s (attempt $attempt of $attempts)"
	kernel_tail 15
	[ "$attempt" -lt "$attempts" ] || exit 125
done
total=$(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')
[ -z "$verbose" ] || { vm_log "kernel log:" && sed 's/\r$//; s/^/  | /' "$klog" >&2; }

if [ "$status" = 124 ] || [ "$status" = 137 ]; then
	if [ -n "$ready" ]; then boot="guest booted in ${ready}s"; else boot="guest never finished booting"; fi
	vm_log "timed out after ${timeout}s; the VM was killed ($boot)"
	exit 124
fi
if [ -z "$rc" ]; then
	if [ -z "$ready" ]; then
		vm_log "the VM stopped before the guest was ready (qemu status $status): boot failure"
	else
		vm_log "the VM stopped without reporting the command's exit code (kernel panic or guest crash; qemu status $status)"
	fi
	[ -n "$verbose" ] || kernel_tail
	exit 125
fi
vm_log "guest booted in ${ready}s, command exited $rc, ${total}s in all"
exit "$rc"
