#!/bin/bash
# make-bundle.sh DIR [ARGS...]: an OCI bundle at DIR with a busybox + probe
# rootfs and the config `runc spec` writes, except terminal=false and the
# process ARGS (default: /probe all).
#   sudo runc run --bundle DIR demo     # or: rt run --bundle DIR demo
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || die "usage: make-bundle.sh DIR [ARGS...]"
dir=$1
shift
[ $# -gt 0 ] || set -- /probe all
[ ! -e "$dir/config.json" ] || die "$dir/config.json exists: remove it first"

build_probe
mkdir -p "$dir"
make_rootfs "$dir/rootfs"

# The args as a JSON array (quotes and backslashes escaped).
args=""
for a in "$@"; do
    a=${a//\\/\\\\}
    a=${a//\"/\\\"}
    args="$args${args:+, }\"$a\""
done

# Rewrite the two fields in the embedded `runc spec` template line by line:
# no jq needed on a fresh machine.
ARGS=$args awk '
    /"terminal": true/ { sub(/true/, "false") }
    /"args": \[/ { print "\t\t\"args\": [" ENVIRON["ARGS"] "],"; skip = 1; next }
    skip && /\]/ { skip = 0; next }
    skip { next }
    { print }
' "$REPO_DIR/tests/common/runc-spec.json" >"$dir/config.json"
echo "bundle ready: $dir"
