#!/usr/bin/env bash
# Install what benches/bench.py needs (Debian, as root). Idempotent: only
# missing packages are installed, and apt-get update runs only if needed.
set -euo pipefail

# package:file that proves it is installed
wanted=(
  "busybox-static:/bin/busybox"
  "runc:/usr/sbin/runc"
  "crun:/usr/bin/crun"
  "time:/usr/bin/time"
  "binutils:/usr/bin/strip"
  "util-linux:/usr/bin/unshare"
  "python3:/usr/bin/python3"
)

missing=()
for item in "${wanted[@]}"; do
  pkg=${item%%:*}
  file=${item#*:}
  # busybox (dynamic) and busybox-static share /bin/busybox: ask dpkg.
  if [[ ! -e $file ]] || ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: must run as root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for item in "${wanted[@]}"; do
  file=${item#*:}
  [[ -e $file ]] || { echo "setup.sh: $file still missing" >&2; exit 1; }
done
echo "setup.sh: benchmark dependencies present"
