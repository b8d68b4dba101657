#!/bin/sh
# rt image unpack vs umoci unpack, side by side on the same image.
# The image is built here with umoci from host directories (no registry
# needed): one big layer plus a small second layer, gzip compressed.
#   usage: benches/image.sh [RT_BINARY]   (default target/release/rt)
# Prints the median of N runs (N=${RUNS:-3}) for: umoci unpack, rt first
# unpack (empty cache, overlay), rt repeated unpack (cached), rt --flat.
set -eu
RT=$(realpath "${1:-target/release/rt}")
RUNS=${RUNS:-3}
W=$(mktemp -d /var/tmp/rt-image-bench.XXXXXX)
cleanup() {
    for m in $(awk -v w="$W" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" || true; done
    rm -rf "$W"
}
trap cleanup EXIT
command -v umoci >/dev/null || { echo "umoci is not installed" >&2; exit 1; }

img="$W/img"
umoci init --layout "$img" >/dev/null
umoci new --image "$img:latest" >/dev/null
umoci unpack --image "$img:latest" "$W/src" >/dev/null
mkdir -p "$W/src/rootfs/usr"
cp -a /usr/bin /usr/lib/x86_64-linux-gnu/perl* /usr/share/perl* "$W/src/rootfs/usr/" 2>/dev/null || true
umoci repack --image "$img:latest" "$W/src" >/dev/null
echo "second layer" > "$W/src/rootfs/etc-file"
umoci repack --image "$img:latest" "$W/src" >/dev/null
# $W/src stays until the end (see measure below).
size=$(du -sh "$img" | cut -f1)
files=$(tar -tzf "$(ls -S "$img"/blobs/sha256/* | head -1)" | wc -l)
echo "image: $size compressed, $files entries in the big layer"

# Each measurement: wall seconds and CPU seconds (user+sys). The variants
# are interleaved run by run, in an order rotated every round, so
# background load hits them alike. Dirty pages from the previous run are
# flushed first (not timed), so one run's writeback does not throttle the
# next. Nothing is deleted until the end: on ext4 without a journal (this
# VM's root), creating inodes right after a large delete scans the freshly
# freed ones (recently_deleted) for about half a minute, which would bill
# one unpacker for the previous one's cleanup.
measure() {
    sync
    s=$(date +%s%N)
    /usr/bin/time -f "%U %S" -o "$W/t" "$@" >/dev/null 2>&1
    e=$(date +%s%N)
    awk -v w="$(( (e - s) / 1000 ))" '{printf "%.4f %.3f\n", w / 1e6, $1 + $2}' "$W/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

variant() {
    case $1 in
        umoci) measure umoci unpack --image "$img:latest" "$W/u$2" >> "$W/umoci";;
        # A fresh rt root each round: an empty layer cache.
        first) measure "$RT" --root "$W/root$2" image unpack -q "$img:latest" "$W/f$2" >> "$W/first";;
        # The cache root1 filled in round 1 (first runs before again there).
        again) measure "$RT" --root "$W/root1" image unpack -q "$img:latest" "$W/r$2" >> "$W/again";;
        flat) measure "$RT" --root "$W/root1" image unpack -q --flat "$img:latest" "$W/x$2" >> "$W/flat";;
    esac
}

# Warm the page cache with the blobs, as all runs would see them.
cat "$img"/blobs/sha256/* > /dev/null
: > "$W/umoci"; : > "$W/first"; : > "$W/again"; : > "$W/flat"
for i in $(seq "$RUNS"); do
    case $((i % 3)) in
        1) order="umoci first again flat";;
        2) order="first flat umoci again";;
        0) order="flat umoci first again";;
    esac
    for v in $order; do variant "$v" "$i"; done
done
col() { cut -d' ' -f"$2" "$W/$1" | median; }
base=$(col umoci 1); basecpu=$(col umoci 2)
printf '%-34s %9s %9s\n' "" "wall s" "cpu s"
for v in umoci first again flat; do
    case $v in
        umoci) name="umoci unpack";;
        first) name="rt image unpack (first, overlay)";;
        again) name="rt image unpack (cached)";;
        flat) name="rt image unpack --flat";;
    esac
    w=$(col $v 1); c=$(col $v 2)
    printf '%-34s %9.4f %9.3f   wall %7.1fx  cpu %7.1fx\n' "$name" "$w" "$c" \
        "$(echo "$base / $w" | bc -l)" "$(echo "$basecpu / ($c + 0.005)" | bc -l)"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
