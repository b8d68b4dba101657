# Shared bits of the systemd VM lane; sourced, not run. The generic helpers
# (vm_log, vm_die, vm_need) are the cgroup v2 lane's.
# shellcheck shell=bash disable=SC2034

SDVM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../vm/lib.sh
. "$SDVM_DIR/../vm/lib.sh"
SDVM_CACHE=${RT_SDVM_CACHE:-/var/cache/rt-vm-systemd}

# The image depends on setup.sh and guest/ only: each version of them has
# its own directory, so branches with different images (sharing one cache
# on a development machine) do not rebuild each other's.
SDVM_STAMP=$(cat "$SDVM_DIR/setup.sh" "$SDVM_DIR"/guest/* | sha256sum | cut -c1-16)
SDVM_IMAGE=$SDVM_CACHE/img-$SDVM_STAMP
# The lane's unprivileged user (rootless tests): lingering is enabled for
# it in the image, so its user@.service runs from boot.
SDVM_USER=rtuser
SDVM_UID=1000
