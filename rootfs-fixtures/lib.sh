# Shared by make-bundle.sh and make-image.sh: build the static probe and lay
# out the busybox + probe rootfs that the integration tests also use
# (tests/common/fixtures.rs is the Rust twin of make_rootfs).

FIXTURES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$FIXTURES_DIR")
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_DIR/target}/fixtures
PROBE=$TARGET_DIR/x86_64-unknown-linux-gnu/release/probe

APPLETS="sh ls cat echo sleep true false id mount umount mkdir rm touch ps kill env test grep
hostname stat readlink chmod chown ln cp mv head tail wc date pwd printf uname mknod dd tr sed
cut nc ip whoami nproc stty tty"

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

build_probe() {
    command -v cargo >/dev/null || die "cargo not found"
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
        --target x86_64-unknown-linux-gnu \
        --manifest-path "$FIXTURES_DIR/probe/Cargo.toml" \
        --target-dir "$TARGET_DIR" || die "building the probe failed"
}

find_busybox() {
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ]; then
            echo "$b"
            return
        fi
    done
    die "busybox not found: install the Debian package busybox-static"
}

# make_rootfs DIR: busybox with applet links, /probe, minimal /etc.
make_rootfs() {
    local root=$1 busybox
    busybox=$(find_busybox)
    mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,home/tester}
    chmod 1777 "$root/tmp"
    cp "$busybox" "$root/bin/busybox"
    cp "$PROBE" "$root/probe"
    for a in $APPLETS; do
        ln -sf busybox "$root/bin/$a"
    done
    cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:tester:/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
    cat >"$root/etc/group" <<'GROUP'
root:x:0:
tester:x:1000:
extra:x:1001:tester
nogroup:x:65534:
GROUP
}
