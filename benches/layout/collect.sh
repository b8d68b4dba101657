#!/bin/bash
# collect.sh: regenerate benches/layout/hot-functions.txt, the functions rt
# runs in the commands a node agent calls all the time, in first-run order.
#
# benches/layout/link-gcc hands the list to the linker as a symbol ordering
# file for release builds, so that code sits together at the start of .text. Why:
# the kernel maps file pages around every page fault (fault-around, 64 KiB),
# so code spread over a 4 MiB .text costs resident memory for everything
# near what runs; packed, `rt state` maps a fraction of it. A stale list is
# harmless (missing names are skipped); rerun this after large changes.
#   usage (root): benches/layout/collect.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$here/hot-functions.txt
work=$(mktemp -d /tmp/rt-layout.XXXXXX)
trap 'umount -l "$work"/b/rootfs 2>/dev/null || true; rm -rf "$work"' EXIT

# The same build as `cargo static`, with symbols kept, in its own target
# dir (kept, so the next run is incremental). Symbols are kept through RUSTFLAGS, not the profile: cargo mixes the
# profile (strip included) into the hash in every mangled name, and the
# names must be those of the real build.
cd "$repo"
RUSTFLAGS="-C target-feature=+crt-static -C strip=none" \
    cargo static --target-dir "$repo/target/layout" >&2
rt=$repo/target/layout/x86_64-unknown-linux-gnu/release/rt
"$repo/rootfs-fixtures/make-bundle.sh" "$work/b" sleep 100 >/dev/null

log=$work/trace
t() { python3 "$here/trace.py" "$log" "$rt" --root "$work/root" "$@"; }
id=layout-$$
# create leaves a traced init behind until start lets it exec sleep.
t create --bundle "$work/b" "$id" &
while ! "$rt" --root "$work/root" state "$id" >/dev/null 2>&1; do sleep 0.05; done
t state "$id" >/dev/null
t start "$id"
wait
t state "$id" >/dev/null
t list >/dev/null
t list --format json >/dev/null
t exec "$id" /bin/true
t ps "$id" >/dev/null
t events --stats "$id" >/dev/null
t pause "$id"
t resume "$id"
t update --memory 64m "$id"
t kill "$id" KILL
sleep 0.2
t delete "$id"
# run with limits, and run of a bundle directory for people.
python3 - "$work/b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["true"]
c["linux"].setdefault("resources", {}).update({
    "memory": {"limit": 67108864},
    "cpu": {"quota": 50000, "period": 100000},
    "pids": {"limit": 64}})
json.dump(c, open(sys.argv[1], "w"))
PY
t run --bundle "$work/b" "$id-2"
t run "$work/b"
t delete --force "$id-2" 2>/dev/null || true

# First-run order, each name once.
awk '!seen[$0]++' "$log" > "$out"
echo "$(wc -l < "$out") functions in $out" >&2
