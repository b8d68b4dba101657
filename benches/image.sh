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
rm -rf "$W/src"
size=$(du -sh "$img" | cut -f1)
files=$(tar -tzf "$(ls -S "$img"/blobs/sha256/* | head -1)" | wc -l)
echo "image: $size compressed, $files entries in the big layer"

# Each measurement: wall seconds and CPU seconds (user+sys). The variants
# are interleaved run by run so background load hits them alike.
# Dirty pages from the previous run are flushed first (not timed), so one
# run's writeback does not throttle the next.
measure() {
    sync
    s=$(date +%s%N)
    /usr/bin/time -f "%U %S" -o "$W/t" "$@" >/dev/null 2>&1
    e=$(date +%s%N)
    awk -v w="$(( (e - s) / 1000 ))" '{printf "%.4f %.3f\n", w / 1e6, $1 + $2}' "$W/t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Warm the page cache with the blobs, as all runs would see them.
cat "$img"/blobs/sha256/* > /dev/null
: > "$W/umoci"; : > "$W/first"; : > "$W/again"; : > "$W/flat"
for i in $(seq "$RUNS"); do
    measure umoci unpack --image "$img:latest" "$W/u$i" >> "$W/umoci"; rm -rf "$W/u$i"
    # Alternate which rt variant follows umoci's large delete, so the
    # file system's delayed work after it does not always hit the same one.
    if [ $((i % 2)) -eq 0 ]; then
        measure "$RT" --root "$W/root1" image unpack -q --flat "$img:latest" "$W/x$i" >> "$W/flat"; rm -rf "$W/x$i"
    fi
    measure "$RT" --root "$W/root$i" image unpack -q "$img:latest" "$W/f$i" >> "$W/first"
    measure "$RT" --root "$W/root1" image unpack -q "$img:latest" "$W/r$i" >> "$W/again"
    if [ $((i % 2)) -eq 1 ]; then
        measure "$RT" --root "$W/root1" image unpack -q --flat "$img:latest" "$W/x$i" >> "$W/flat"; rm -rf "$W/x$i"
    fi
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
