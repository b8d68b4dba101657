#!/bin/bash
# Run one command as root inside a throw-away VM that boots Debian 12 with
# systemd as PID 1 on pure cgroup v2, streaming the command's output to
# stdout and exiting with its status. See tests/vm-systemd/README.md.
#
#   tests/vm-systemd/run.sh [options] -- COMMAND [ARG]...
#     --file HOST[:VM]  copy a file or directory in (VM path defaults to HOST's
#                       absolute path); the guest is Debian 12 like the host,
#                       so dynamically linked host binaries run there as is
#     --env NAME=VALUE  set in the command's environment (repeatable)
#     --cwd DIR         directory to run the command in (default /)
#     --timeout SECS    whole-VM limit, boot included (default 900)
#     --mem MIB         guest memory (default 3072)
#     --cpus N          guest vCPUs (default 2)
#     --verbose         print the kernel's and systemd's console log afterwards
# Exit status: the command's, 124 on timeout, 125 when the VM or this script
# failed before the command could report.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

timeout=900 mem=3072 cpus=2 verbose='' cwd=/
files=() envs=()
while [ $# -gt 0 ]; do
	case $1 in
	--file | --env | --cwd | --timeout | --mem | --cpus)
		[ $# -ge 2 ] || vm_die "$1 needs a value"
		case $1 in
		--file) files+=("$2") ;;
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

"$SDVM_DIR/setup.sh" --quiet
# While qemu reads the image, setup.sh of another version must not prune it.
exec 8<"$SDVM_IMAGE/lock"
flock -s 8

work=$(mktemp -d "${TMPDIR:-/tmp}/rt-sdvm.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/root
mkdir -p "$stage/rt-vm"

for f in ${files[@]+"${files[@]}"}; do
	host=${f%%:*}
	[ -e "$host" ] || vm_die "no such file or directory: $host"
	case $f in *:*) vm=${f#*:} ;; *) vm=$(realpath -s "$host") ;; esac
	case $vm in /*) ;; *) vm_die "guest path must be absolute: $vm" ;; esac
	if [ -d "$host" ]; then
		mkdir -p "$stage$vm"
		cp -aH "$host/." "$stage$vm/"
	else
		mkdir -p "$stage$(dirname "$vm")"
		cp -aH "$host" "$stage$vm"
	fi
done

tag=RTVM-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "$tag" >"$stage/rt-vm/tag"
echo "$cwd" >"$stage/rt-vm/cwd"
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

# The payload is a tar written as is to a second raw disk; the guest's
# runner unpacks it over / (only directories that exist in the payload are
# touched: parents get no mode of their own, so --no-overwrite-dir).
tar -C "$stage" --no-overwrite-dir -cf "$work/payload.tar" .

# Debian's initramfs mounts /dev/vda (the cached image, as a snapshot: no
# write reaches the cache) and starts systemd. systemd's default on Debian 12
# is the unified hierarchy; the flag says so anyway. The kernel and systemd
# log to ttyS1 (a file); ttyS0 carries only the runner's output.
append="root=/dev/vda rw console=ttyS1 panic=-1 softlockup_panic=1"
append+=" systemd.unified_cgroup_hierarchy=1 fsck.mode=skip systemd.show_status=0"
append+=" mitigations=off nokaslr tsc=reliable no_timer_check lpj=5000000"
append+=" ${RT_VM_APPEND:-}"
accel=${RT_VM_ACCEL:-tcg,thread=multi}
cpu=${RT_VM_CPU:-qemu64}
boot_timeout=${RT_SDVM_BOOT_TIMEOUT:-240}

log=$work/console.log klog=$work/kernel.log pidfile=$work/qemu.pid
show=(-e "/^$tag /d" -e "s/$tag .*//")
stop_qemu() { [ ! -s "$pidfile" ] || kill "$(cat "$pidfile")" 2>/dev/null || true; }
trap 'stop_qemu; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
kernel_tail() {
	vm_log "last console messages:"
	tail -n "${1:-30}" "$klog" | sed 's/\r$//; s/^/  | /' >&2
}

start=$(date +%s.%N)
(
	set -o pipefail
	timeout -k 5 "$timeout" qemu-system-x86_64 -M pc -accel "$accel" \
		-cpu "$cpu" -m "$mem" -smp "$cpus" -nodefaults -display none \
		-no-reboot -pidfile "$pidfile" \
		-serial stdio -serial "file:$klog" \
		-kernel "$SDVM_IMAGE/vmlinuz" -initrd "$SDVM_IMAGE/initrd.img" \
		-drive "file=$SDVM_IMAGE/root.ext4,if=virtio,format=raw,snapshot=on" \
		-drive "file=$work/payload.tar,if=virtio,format=raw,readonly=on" \
		-append "$append" </dev/null |
		sed -u 's/\r$//' | tee "$log" | sed -u "${show[@]}"
) &
pipe=$! waited=0
while ! grep -q "^$tag ready" "$log" 2>/dev/null; do
	kill -0 $pipe 2>/dev/null || break
	if [ $waited -ge $((boot_timeout * 5)) ]; then
		vm_log "the guest did not reach the payload within ${boot_timeout}s"
		stop_qemu
		wait $pipe || true
		kernel_tail
		exit 125
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
total=$(echo "$(date +%s.%N) $start" | awk '{printf "%.1f", $1 - $2}')
[ -z "$verbose" ] || { vm_log "console log:" && sed 's/\r$//; s/^/  | /' "$klog" >&2; }
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
	vm_log "timed out after ${timeout}s; the VM was killed (ready after ${ready:-never}s)"
	exit 124
fi
if [ -z "$rc" ]; then
	vm_log "the VM stopped without reporting the command's exit code (qemu status $status)"
	[ -n "$verbose" ] || kernel_tail
	exit 125
fi
vm_log "systemd guest ready after ${ready}s, command exited $rc, ${total}s in all"
exit "$rc"
