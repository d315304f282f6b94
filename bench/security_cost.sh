#!/usr/bin/env bash
# The cost of security (docs/BENCHMARKS.md): bench/cluster.sh secured (TLS + tokens, as `loom up`)
# and --insecure, alternated N times (default 5) with the same build; one JSON line per run with
# its UTC time and load average.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
case "$n" in ''|*[!0-9]*) echo "usage: bench/security_cost.sh [PAIRS]" >&2; exit 2;; esac
for i in $(seq "$n"); do
  for mode in secured insecure; do
    args=(); [ $mode = insecure ] && args=(--insecure)
    t=$(date -u +%H:%M:%S); load=$(cut -d' ' -f1 /proc/loadavg)
    out=$("$root/bench/cluster.sh" "${args[@]}" --json | tail -1) || exit 1
    echo "{\"pair\": $i, \"mode\": \"$mode\", \"utc\": \"$t\", \"load\": $load, \"result\": $out}"
  done
done
