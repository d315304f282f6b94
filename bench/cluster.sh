#!/usr/bin/env bash
# Control-plane benchmark: starts a local 3-node emulated cluster (4 GPUs each) under a fresh
# LOOM_HOME, runs `loom-bench cluster` against it, and stops it. Extra arguments go to the bench.
# Secured (TLS + tokens) as `loom up` is by default; `bench/cluster.sh --insecure ...` runs the
# same cluster in plaintext without tokens, for the cost of security (docs/BENCHMARKS.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LOOM_BIN:-$root/build/bin}
export LOOM_HOME=$(mktemp -d /tmp/loom-bench-XXXXXX)
unset LOOM_SERVER LOOM_TOKEN LOOM_INSECURE
insecure=()
if [ "${1:-}" = "--insecure" ]; then
  insecure=(--insecure)
  export LOOM_INSECURE=1
  shift
fi
source "$root/bench/loom_up.sh"
loom_up "${insecure[@]}" up --workers 3 --gpus-per-worker 4
"$bin/loom-bench" cluster "$@"
