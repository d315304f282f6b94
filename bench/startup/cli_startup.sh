#!/usr/bin/env bash
# CLI start-up: `loom queue` against baselines, 100 calls each, median (hyperfine).
# Baselines: /bin/true and a static hello (process start-up alone), the smallest C++ gRPC client
# of loomd linked against Debian's shared gRPC and against the static archives (what gRPC itself
# costs). The anchor is sbatch 9.4 ms, measured side by side with the 28 ms `loom` of issue 13.
# Usage: bench/startup/cli_startup.sh [BUILD_DIR [OTHER_LOOM]]   (needs hyperfine)
# `loom queue` is timed secured (a `loom up` cluster: TLS, token) and with --insecure.
# OTHER_LOOM: another build's `loom`, timed in the same run (before/after).
set -euo pipefail
build=${1:-build}
bin=$build/bin
command -v hyperfine >/dev/null || { echo "cli_startup: hyperfine is not installed" >&2; exit 1; }
root=$(cd "$(dirname "$0")/../.." && pwd)
# `loom queue` as users run it: against a `loom up` cluster, TLS and the admin token from $LOOM_HOME.
export LOOM_HOME=$(mktemp -d /tmp/loom-startup-XXXXXX)
unset LOOM_SERVER LOOM_TOKEN LOOM_INSECURE
source "$root/bench/loom_up.sh"
loom_up up --workers 1 --gpus-per-worker 1
# The baselines' gRPC clients speak plaintext: a second loomd, --insecure on loopback, for them and
# for `loom --insecure queue` (what TLS and the token add).
plain=$(mktemp -d /tmp/loom-startup-plain-XXXXXX)
"$bin/loomd" --home "$plain" --insecure --listen 127.0.0.1:0 2>"$plain/loomd.log" &
loomd=$!
trap 'kill $loomd 2>/dev/null; wait $loomd 2>/dev/null; rm -rf "$plain"; kill -INT $up 2>/dev/null; wait $up 2>/dev/null || true; rm -rf "$LOOM_HOME"' EXIT
for _ in $(seq 100); do [ -s "$plain/loomd.addr" ] && break; sleep 0.05; done
[ -s "$plain/loomd.addr" ] || { cat "$plain/loomd.log" >&2; exit 1; }
addr=$(cat "$plain/loomd.addr")
home=$plain
hyperfine -N --warmup 10 --runs 100 --export-json "$home/result.json" \
  true "$bin/loom-hello-static" "$bin/loom-min-client $addr" "$bin/loom-min-client-static $addr" \
  "$bin/loom --insecure --server $addr queue" "$bin/loom queue" ${2:+"$2 queue"} >/dev/null
python3 - "$home/result.json" <<'PY'
import json, sys
print(f"{'command':45} {'median ms':>10} {'user+sys ms':>12}")
for r in json.load(open(sys.argv[1]))["results"]:
    words = r["command"].split(" ")
    cmd = " ".join([words[0].split("/")[-1]] + [w for w in words[1:] if not w[0].isdigit()])
    print(f"{cmd:45} {r['median']*1e3:10.2f} {(r['user']+r['system'])*1e3:12.2f}")
PY
