#!/usr/bin/env bash
# Job-array submit benchmark (docs/BENCHMARKS.md): a local `loom up` under a fresh LOOM_HOME
# (TLS and tokens, as by default), then
#   1. `loom submit --array 0-(N-1) --hold` (one call, one commit of N rows), REPEAT times;
#   2. the anchor, in the same run: ANCHOR separate `loom submit --hold` calls of one job each;
#   3. `loom queue` over everything pending (the arrays' tasks collapsed into one row each).
# Held, so nothing runs and only submission is measured. Usage: bench/arrays.sh [N [ANCHOR [REPEAT]]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LOOM_BIN:-$root/build/bin}
tasks=${1:-10000}
anchor=${2:-1000}
repeat=${3:-3}
export LOOM_HOME=$(mktemp -d /tmp/loom-bench-XXXXXX)
unset LOOM_SERVER LOOM_TOKEN LOOM_INSECURE
source "$root/bench/loom_up.sh"
loom_up up --workers 1 --gpus-per-worker 4

now_ns() { date +%s%N; }
echo "machine: $(nproc) cores, $(uptime)"
for r in $(seq "$repeat"); do
  t0=$(now_ns)
  "$bin/loom" submit --hold --array "0-$((tasks - 1))" -- /bin/true > /dev/null
  t1=$(now_ns)
  ms=$(( (t1 - t0) / 1000000 ))
  echo "array: $tasks tasks in one submit: $ms ms ($(( tasks * 1000 / (ms > 0 ? ms : 1) )) jobs/s)"
done
t0=$(now_ns)
for _ in $(seq "$anchor"); do "$bin/loom" submit --hold -- /bin/true > /dev/null; done
t1=$(now_ns)
ms=$(( (t1 - t0) / 1000000 ))
echo "anchor: $anchor separate submits: $ms ms ($(( anchor * 1000 / (ms > 0 ? ms : 1) )) jobs/s," \
     "$(( ms * 1000 / anchor )) us each; $tasks would take about $(( ms * tasks / anchor / 1000 )) s)"
t0=$(now_ns)
rows=$("$bin/loom" queue | wc -l)
t1=$(now_ns)
echo "queue: $(( repeat * tasks + anchor )) pending jobs listed as $((rows - 1)) rows in $(( (t1 - t0) / 1000000 )) ms"
