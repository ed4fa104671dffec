#!/bin/bash
# The lazy-pool benchmark (issue 24): wall time of `ginkgo -p --procs=2` over
# a 20-spec scikit-learn suite (/usr/bin/python3 with Debian's python3-sklearn),
# each way, in interleaved rounds:
#   naive          one interpreter per spec (realpy.Start)
#   spawn-eager    each Ginkgo process its own Spawn pool of 4, all started up front
#   spawn-lazy     the same with realpy.WithLazy()
#   harness-spawn  harness.NewSharedPool(WithStrategy(Spawn), WithSize(4)): lazy by default
#   zygote         harness.NewSharedPool(WithSize(4)): one host, forked workers
# Then the PSS of 8 workers each way (go run ./pss).
# Usage: ./run.sh [rounds]
set -e
cd "$(dirname "$0")"
G=$(cd ../../.. && go tool -n ginkgo)
rounds=${1:-5}
export PYHARNESS_INTEGRATION=1 PYHARNESS_CACHE_DIR=$(mktemp -d)
$G build ./suite >/dev/null
for r in $(seq "$rounds"); do
  for m in naive spawn-eager spawn-lazy harness-spawn zygote; do
    s=$(date +%s.%N)
    BENCH_MODE=$m $G -p --procs=2 --no-color ./suite/suite.test > "$PYHARNESS_CACHE_DIR/out-$m-$r.txt" 2>&1 || echo "FAIL $m $r (see $PYHARNESS_CACHE_DIR/out-$m-$r.txt)"
    e=$(date +%s.%N)
    echo "round $r $m $(echo "$e - $s" | bc) s"
  done
done
go run ./pss spawn-eager spawn-lazy zygote naive
