#!/bin/bash
# Builds the fuzz targets and runs each for a short while over the seed
# corpus: a check that the targets build and that the seeds and what a few
# seconds of mutation find do not crash. Not a fuzzing campaign (RUNS.md).
# SMOKE_SECONDS (default 20) per target; prints the total wall time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
secs=${SMOKE_SECONDS:-20}
start=$(date +%s)
export RUSTC_BOOTSTRAP=1
nice -n 10 cargo fuzz build
./seeds.sh >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in config image layer; do
    # A scratch copy: the committed tree stays clean and seeds stay seeds.
    mkdir -p "$scratch/$t" "$scratch/artifacts"
    cp corpus/$t/* "$scratch/$t/"
    nice -n 10 cargo fuzz run "$t" "$scratch/$t" -- \
        -dict="dict/$t.dict" -max_total_time="$secs" -timeout=10 \
        -artifact_prefix="$scratch/artifacts/$t-" -print_final_stats=1 \
        >"$scratch/$t.log" 2>&1 || {
        tail -40 "$scratch/$t.log"
        ls -l "$scratch/artifacts" >&2
        echo "smoke: $t failed" >&2
        exit 1
    }
    echo "smoke: $t ok: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$') runs"
done
echo "smoke: all targets ok in $(( $(date +%s) - start )) s"
