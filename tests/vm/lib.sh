# Shared bits of the VM lane scripts; sourced, not run.
# shellcheck shell=bash disable=SC2034

# The kernel (about 25 MB to download) survives between runs here; override
# with RT_VM_CACHE, e.g. to keep it under target/ on a machine without /var.
RT_VM_CACHE=${RT_VM_CACHE:-/var/cache/rt-vm}
RT_VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

vm_log() { echo "rt-vm: $*" >&2; }
vm_die() {
	echo "rt-vm: $*" >&2
	exit 125
}

# Install Debian packages only when a command is missing, so a warm machine
# never touches apt and an offline re-run still works.
#   vm_need COMMAND PACKAGE [COMMAND PACKAGE]...
vm_need() {
	local missing=()
	while [ $# -ge 2 ]; do
		command -v "$1" >/dev/null 2>&1 || missing+=("$2")
		shift 2
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	vm_log "installing ${missing[*]}"
	vm_apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >&2 || vm_die "apt-get install ${missing[*]} failed"
}

vm_apt_updated=
vm_apt_update() {
	[ -n "$vm_apt_updated" ] && return 0
	apt-get update -q >&2 || vm_die "apt-get update failed"
	vm_apt_updated=1
}
