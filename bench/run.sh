#!/usr/bin/env bash
# Runs the comparison of README.md: every benchmark 5 times, then the
# medians with benchstat. Run it on a machine doing nothing else.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-results.txt}
go test -run='^$' -bench=. -benchmem -count=5 ./... | tee "$out"
go tool benchstat "$out"
