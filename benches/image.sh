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

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

# Warm the page cache with the blobs, as all runs would see them.
cat "$img"/blobs/sha256/* > /dev/null

t_umoci=$(for i in $(seq "$RUNS"); do
    s=$(now); umoci unpack --image "$img:latest" "$W/u$i" >/dev/null; e=$(now)
    echo "$e - $s" | bc; rm -rf "$W/u$i"; done | median)
t_first=$(for i in $(seq "$RUNS"); do
    rm -rf "$W/root$i"
    s=$(now); "$RT" --root "$W/root$i" image unpack -q "$img:latest" "$W/f$i"; e=$(now)
    echo "$e - $s" | bc; done | median)
t_again=$(for i in $(seq "$RUNS"); do
    s=$(now); "$RT" --root "$W/root1" image unpack -q "$img:latest" "$W/r$i"; e=$(now)
    echo "$e - $s" | bc; done | median)
t_flat=$(for i in $(seq "$RUNS"); do
    s=$(now); "$RT" --root "$W/root1" image unpack -q --flat "$img:latest" "$W/x$i"; e=$(now)
    echo "$e - $s" | bc; rm -rf "$W/x$i"; done | median)

printf '%-34s %8.3f s\n' "umoci unpack" "$t_umoci"
printf '%-34s %8.3f s  (%.1fx faster)\n' "rt image unpack (first, overlay)" "$t_first" "$(echo "$t_umoci / $t_first" | bc -l)"
printf '%-34s %8.3f s  (%.1fx faster)\n' "rt image unpack (cached)" "$t_again" "$(echo "$t_umoci / $t_again" | bc -l)"
printf '%-34s %8.3f s  (%.1fx faster)\n' "rt image unpack --flat" "$t_flat" "$(echo "$t_umoci / $t_flat" | bc -l)"
