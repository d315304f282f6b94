#!/usr/bin/env bash
# CLI start-up: `loom queue` against baselines, 100 calls each, median (hyperfine).
# Baselines: /bin/true and a static hello (process start-up alone), the smallest C++ gRPC client
# of loomd linked against Debian's shared gRPC and against the static archives (what gRPC itself
# costs). The anchor is sbatch 9.4 ms, measured side by side with the 28 ms `loom` of issue 13.
# Usage: bench/startup/cli_startup.sh [BUILD_DIR [OTHER_LOOM]]   (needs hyperfine)
# OTHER_LOOM: another build's `loom`, timed in the same run (before/after).
set -euo pipefail
build=${1:-build}
bin=$build/bin
command -v hyperfine >/dev/null || { echo "cli_startup: hyperfine is not installed" >&2; exit 1; }
home=$(mktemp -d)
"$bin/loomd" --home "$home" 2>"$home/loomd.log" &
loomd=$!
trap 'kill $loomd 2>/dev/null; wait $loomd 2>/dev/null; rm -rf "$home"' EXIT
for _ in $(seq 100); do [ -s "$home/loomd.addr" ] && break; sleep 0.05; done
addr=$(cat "$home/loomd.addr")
export LOOM_HOME=$home
hyperfine -N --warmup 10 --runs 100 --export-json "$home/result.json" \
  true "$bin/loom-hello-static" "$bin/loom-min-client $addr" "$bin/loom-min-client-static $addr" \
  "$bin/loom queue" ${2:+"$2 queue"} >/dev/null
python3 - "$home/result.json" <<'PY'
import json, sys
print(f"{'command':45} {'median ms':>10} {'user+sys ms':>12}")
for r in json.load(open(sys.argv[1]))["results"]:
    cmd = r["command"].split(" ")[0].split("/")[-1] + ("" if " " not in r["command"] else " " + r["command"].split(" ")[1])
    print(f"{cmd:45} {r['median']*1e3:10.2f} {(r['user']+r['system'])*1e3:12.2f}")
PY
