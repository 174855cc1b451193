#!/usr/bin/env bash
# Runs palisade's benchmarks side by side with failsafe-go and gobreaker, then
# prints them through benchstat (each library a column; the peer is the base,
# so palisade's "vs base" is its difference from the peer) and the targets of
# docs/design.md with the ratio of each palisade figure to its peer.
#
#   bash benchmarks/run.sh              # all, -count 6
#   COUNT=10 BENCH=Breaker bash benchmarks/run.sh
set -euo pipefail
cd "$(dirname "$0")"
count=${COUNT:-6}
bench=${BENCH:-.}
mkdir -p results
raw=results/bench.txt

go test -run '^$' -bench "$bench" -benchmem -count "$count" -timeout 60m . | tee "$raw"

echo
echo "== benchstat (columns: /impl; base = first column, the peer)"
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl "$raw"

echo
echo "== targets (medians of $count runs; ratio = palisade ns/op ÷ reference ns/op)"
go run ./cmd/targets < "$raw"
