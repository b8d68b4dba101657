#!/usr/bin/env bash
# What benches/bench.py needs (busybox-static, runc, crun, time, ...): the
# test suite's installer covers it, so there is one list to keep.
exec bash "$(dirname "$0")/../tests/setup.sh"
