#!/bin/bash
# make-image.sh OUTDIR: an OCI image layout at OUTDIR (oci-layout,
# index.json, blobs/) with one layer holding busybox + the probe, tag
# "latest", default command /probe all. Needs umoci.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: make-image.sh OUTDIR"
out=$1
command -v umoci >/dev/null || die "umoci not found: apt-get install umoci"
[ ! -e "$out" ] || die "$out exists: remove it first"

build_probe
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
make_rootfs "$stage/rootfs"

umoci init --layout "$out"
umoci new --image "$out:latest"
umoci insert --image "$out:latest" "$stage/rootfs" /
umoci config --image "$out:latest" \
    --config.cmd /probe --config.cmd all \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.workingdir / \
    --architecture amd64 --os linux \
    --author rt-fixtures
umoci gc --layout "$out"
echo "image ready: $out:latest"
