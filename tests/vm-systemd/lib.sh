# Shared bits of the systemd VM lane; sourced, not run. The generic helpers
# (vm_log, vm_die, vm_need) are the cgroup v2 lane's.
# shellcheck shell=bash disable=SC2034

SDVM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../vm/lib.sh
. "$SDVM_DIR/../vm/lib.sh"
SDVM_CACHE=${RT_SDVM_CACHE:-/var/cache/rt-vm-systemd}
