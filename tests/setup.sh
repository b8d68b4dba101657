#!/usr/bin/env bash
# Install everything the test suite and the benchmark need on a fresh
# Debian 12 machine, as root. Idempotent: only missing packages are
# installed. (The cgroup v2 VM lane installs its own: tests/vm/setup.sh.)
set -euo pipefail

# package:file that proves it is installed
wanted=(
  "busybox-static:/bin/busybox"
  "runc:/usr/sbin/runc"
  "crun:/usr/bin/crun"
  "umoci:/usr/bin/umoci"
  "skopeo:/usr/bin/skopeo"
  "buildah:/usr/bin/buildah"
  "libseccomp-dev:/usr/include/seccomp.h"
  "pkg-config:/usr/bin/pkg-config"
  "python3:/usr/bin/python3"
  "time:/usr/bin/time"
  "util-linux:/usr/bin/unshare"
  "iproute2:/usr/sbin/ip"
  "jq:/usr/bin/jq"
  "binutils:/usr/bin/strip"
  "zstd:/usr/bin/zstd"
  "bsdutils:/usr/bin/script"
  "podman:/usr/bin/podman"
  "libcap2-bin:/usr/sbin/setcap"
  "conmon:/usr/bin/conmon"
  "containerd:/usr/bin/containerd"
  # the CRI suite (tests/cri/): pod networks, and protoc for the k8s-cri
  # dev-dependency's generated gRPC client
  "containernetworking-plugins:/usr/lib/cni/bridge"
  "protobuf-compiler:/usr/bin/protoc"
)

missing=()
for item in "${wanted[@]}"; do
  pkg=${item%%:*}
  file=${item#*:}
  if [[ ! -e $file ]] || ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for item in "${wanted[@]}"; do
  file=${item#*:}
  [[ -e $file ]] || { echo "setup: $file still missing" >&2; exit 1; }
done

# The probe is a static binary for this target.
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -q x86_64-unknown-linux-gnu ||
    rustup target add x86_64-unknown-linux-gnu
fi
