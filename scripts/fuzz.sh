#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in ${LOOM_FUZZ_BUILD_DIR:-build-fuzz} and runs
# each for ${LOOM_FUZZ_SECONDS:-30} s over its committed seed corpus (fuzz/corpus/<target>; new
# inputs go to a scratch directory, the committed corpus is not changed). Skips cleanly without
# clang. A crash fails the script and leaves the input in the scratch directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found; skipping the fuzz targets (scripts/install-deps.sh installs clang)"
  exit 0
fi
build=${LOOM_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${LOOM_FUZZ_SECONDS:-30}
targets=(job_file cluster_config policy_config validators)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# Configure again where an earlier configure failed half-way (a cache but no build files).
if [ ! -f "$build/CMakeCache.txt" ] || { [ ! -f "$build/build.ninja" ] && [ ! -f "$build/Makefile" ]; }; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOOM_BUILD_FUZZ=ON -DLOOM_BUILD_TESTS=OFF -DLOOM_BUILD_BENCH=OFF -DLOOM_WITH_MPI=OFF -DLOOM_WITH_CUDA=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"
scratch=$(mktemp -d /tmp/loom-fuzz-XXXXXX)
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "fuzz: $t for ${seconds}s"
  # The whole log stays in the scratch directory; the fuzzer's own exit status and any artifact it
  # wrote (crash-, leak-, timeout-, oom-) both count as a failure.
  rc=0
  (cd "$scratch/$t" && "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
     "$scratch/$t" "$root/fuzz/corpus/$t" > "$scratch/$t.log" 2>&1) || rc=$?
  grep -E "^(#[0-9]+ *DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY)" "$scratch/$t.log" || true
  artifacts=$(find "$scratch/$t" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))
  if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
    echo "fuzz: $t failed (exit $rc); log $scratch/$t.log; inputs: ${artifacts:-none written}" >&2
    grep -E "runtime error|ERROR|Test unit written|SUMMARY" "$scratch/$t.log" | head -20 >&2 || true
    exit 1
  fi
done
rm -rf "$scratch"
echo "fuzz: all targets ran ${seconds}s without a failure"
