#!/bin/sh
# rt image unpack vs umoci unpack, side by side on the same image.
# The image is built here with umoci from host directories (no registry
# needed): one big layer plus a small second layer, gzip compressed.
#   usage: benches/image.sh [RT_BINARY]   (default target/release/rt)
# Prints the median of N runs (N=${RUNS:-3}) for: umoci unpack; rt's
# default unpack (a self-contained bundle: every layer extracted into the
# bundle's own rootfs, no cache involved); rt --overlay with an empty
# store; rt --overlay with the layers already in the store (cached); and,
# for comparison with a bundle copied out of the store instead of
# extracted, `cp -a --reflink=auto` of an unpacked rootfs (a reflink only
# where the file system has them: not on ext4).
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
        # The default: a self-contained bundle (its store stays empty).
        first) measure "$RT" --root "$W/root" --image-store "$W/store$2" image unpack -q "$img:latest" "$W/f$2" >> "$W/first";;
        # A fresh store each round: every layer extracted into the cache.
        ovl) measure "$RT" --root "$W/root" --image-store "$W/ostore$2" image unpack -q --overlay "$img:latest" "$W/o$2" >> "$W/ovl";;
        # The store ostore1 filled in round 1 (ovl runs before again there).
        again) measure "$RT" --root "$W/root" --image-store "$W/ostore1" image unpack -q --overlay "$img:latest" "$W/r$2" >> "$W/again";;
        copy) measure cp -a --reflink=auto "$W/f1/rootfs" "$W/c$2" >> "$W/copy";;
    esac
}

# Warm the page cache with the blobs, as all runs would see them.
cat "$img"/blobs/sha256/* > /dev/null
: > "$W/umoci"; : > "$W/first"; : > "$W/ovl"; : > "$W/again"; : > "$W/copy"
for i in $(seq "$RUNS"); do
    case $((i % 3)) in
        1) order="umoci first ovl again copy";;
        2) order="first copy umoci ovl again";;
        0) order="copy umoci first ovl again";;
    esac
    for v in $order; do variant "$v" "$i"; done
done
col() { cut -d' ' -f"$2" "$W/$1" | median; }
base=$(col umoci 1); basecpu=$(col umoci 2)
printf '%-38s %9s %9s\n' "" "wall s" "cpu s"
for v in umoci first ovl again copy; do
    case $v in
        umoci) name="umoci unpack";;
        first) name="rt image unpack (self-contained)";;
        ovl) name="rt image unpack --overlay (first)";;
        again) name="rt image unpack --overlay (cached)";;
        copy) name="cp -a --reflink=auto of a rootfs";;
    esac
    w=$(col $v 1); c=$(col $v 2)
    printf '%-38s %9.4f %9.3f   wall %7.1fx  cpu %7.1fx\n' "$name" "$w" "$c" \
        "$(echo "$base / $w" | bc -l)" "$(echo "$basecpu / ($c + 0.005)" | bc -l)"
done
echo "file system of $W: $(stat -f -c %T "$W")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
