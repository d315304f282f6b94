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
"$bin/loom" "${insecure[@]}" up --workers 3 --gpus-per-worker 4 > "$LOOM_HOME/up.log" 2>&1 &
up=$!
trap 'rc=$?; kill -INT $up 2>/dev/null; wait $up 2>/dev/null || true
      if [ $rc -eq 0 ]; then rm -rf "$LOOM_HOME"; else echo "state kept in $LOOM_HOME" >&2; fi' EXIT
for _ in $(seq 100); do
  grep -q "Loom is up" "$LOOM_HOME/up.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "Loom is up" "$LOOM_HOME/up.log" || { cat "$LOOM_HOME/up.log"; exit 1; }
"$bin/loom-bench" cluster "$@"
