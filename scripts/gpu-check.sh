#!/usr/bin/env bash
# The one command for a GPU machine (docs/GPU.md): builds the kernels-only tree (no MPI, gRPC or
# Protobuf) with Ninja, then runs the GPU tests, the GEMM benchmark against cuBLASLt, the NCCL
# communicator tests and loom-train on one GPU, each step under its own time limit and all of it
# within LOOM_GPU_CHECK_BUDGET_S (480 s; the build alone LOOM_GPU_CHECK_BUILD_S, 300 s). Every
# result and the build log go to OUTDIR (7 files); a summary table is printed last. On a machine without a CUDA device it configures, builds and
# runs the GPU tests (which skip), reports each device step as "skipped: no CUDA device", and
# exits 0: non-zero means a real failure (configure, build, a test, a step that failed or hung).
#
# usage: scripts/gpu-check.sh [--build-dir DIR] [--skip-build] [--gtest-src DIR] OUTDIR
#        scripts/gpu-check.sh --prepare-deps
#   --build-dir DIR   the kernels-only tree (default: build-gpu-check beside build/, never build/)
#   --skip-build      use DIR as built (the CPU self-test in ctest does this)
#   --gtest-src DIR   GoogleTest's source, built first when the machine has no GTest package
#                     (default: .deps/googletest when present)
#   --prepare-deps    copy /usr/src/googletest to .deps/googletest, to carry to a machine
#                     whose image has no GTest
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-gpu-check"
skip_build=0
gtest_src=""
out=""
usage() { sed -n '10,17p' "$0" | sed 's/^# \{0,1\}//' >&2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --gtest-src) gtest_src=$2; shift 2 ;;
    --prepare-deps)
      mkdir -p "$root/.deps" && rm -rf "$root/.deps/googletest" &&
        cp -r /usr/src/googletest "$root/.deps/googletest" && echo "gpu-check: .deps/googletest ready"
      exit $? ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "gpu-check: unknown flag $1" >&2; usage; exit 2 ;;
    *) [ -z "$out" ] || { echo "gpu-check: one OUTDIR only (got '$out' and '$1')" >&2; exit 2; }
       out=$1; shift ;;
  esac
done
[ -n "$out" ] || { echo "gpu-check: OUTDIR is missing" >&2; usage; exit 2; }
mkdir -p "$out" || { echo "gpu-check: cannot create $out" >&2; exit 2; }
out=$(cd "$out" && pwd)
build=$(mkdir -p "$build" && cd "$build" && pwd)
if [ $skip_build -eq 0 ] && [ "$build" = "$root/build" ]; then
  echo "gpu-check: will not configure the main build dir as kernels-only" >&2; exit 2
fi
[ -z "$gtest_src" ] && [ -f "$root/.deps/googletest/CMakeLists.txt" ] && gtest_src="$root/.deps/googletest"

budget=${LOOM_GPU_CHECK_BUDGET_S:-480}
start=$SECONDS
jobs=$(nproc)
log_build="$out/build.log" log_ctest="$out/ctest-gpu.log" log_nccl="$out/nccl.log"
gemm_json="$out/gemm.json" train_json="$out/train.json" device_txt="$out/device.txt"
summary_txt="$out/summary.txt"
: >"$log_build"; : >"$log_ctest"; : >"$log_nccl"; : >"$gemm_json"; : >"$train_json"
failed=0
steps=()  # "name|status|seconds"

# step NAME LIMIT_S LOG CMD...: runs CMD under its own limit (never past the overall budget),
# appending its output to LOG; records ok / FAIL (rc) / TIMEOUT / skipped.
step() {
  local name=$1 limit=$2 log=$3; shift 3
  local left=$((budget - (SECONDS - start) - 10))
  if [ "$left" -lt 5 ]; then
    steps+=("$name|skipped: overall budget spent|0"); failed=1; return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc tmp
  tmp=$(mktemp)
  echo "### $name: $* (limit ${limit}s)" >>"$log"
  timeout --kill-after=10 "$limit" "$@" >"$tmp" 2>&1
  rc=$?
  cat "$tmp" >>"$log"
  local took=$((SECONDS - t0)) status
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMEOUT after ${limit}s"; failed=1
  elif grep -q "no CUDA device\|needs a CUDA device" "$tmp" && { [ $rc -eq 0 ] || [ "$gpus" -eq 0 ]; }; then
    # Without a device the GPU tests skip (exit 0) and the programs refuse (exit 1): both fine
    # there, and only there.
    status="skipped: no CUDA device"; rc=0
  elif [ $rc -eq 0 ]; then status=ok
  else status="FAIL (exit $rc)"; failed=1
  fi
  rm -f "$tmp"
  steps+=("$name|$status|$took")
  return "$rc"
}

# launch_ranks N PORT PROGRAM ARGS...: N processes, one per GPU, as Loom starts a non-MPI job;
# fails when any rank fails.
# shellcheck disable=SC2317  # run through bash -c, under step's timeout
launch_ranks() {
  local n=$1 port=$2 pids=() r rc=0; shift 2
  for ((r = 0; r < n; r++)); do
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$@" & pids+=($!)
  done
  for r in "${pids[@]}"; do wait "$r" || rc=1; done
  return "$rc"
}

# nccl_from_python DIR: where the CUDA toolkit carries no NCCL, PyTorch's wheel may
# (nvidia/nccl/{include,lib}); link its headers and library under DIR and print DIR.
nccl_from_python() {
  local dir=$1 py lib
  py=$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null) || return 1
  [ -f "$py/include/nccl.h" ] || return 1
  lib=$(find "$py/lib" -name 'libnccl.so*' 2>/dev/null | head -1)
  [ -n "$lib" ] || return 1
  mkdir -p "$dir/lib" && ln -sfn "$py/include" "$dir/include" &&
    ln -sf "$lib" "$dir/lib/libnccl.so" && ln -sf "$lib" "$dir/lib/libnccl.so.2" && echo "$dir"
}

# ---- The machine -------------------------------------------------------------------------------
{
  echo "# gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), $(nproc) cores"
  echo "# commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  command -v nvidia-smi >/dev/null && timeout 20 nvidia-smi 2>&1
  command -v nvcc >/dev/null && nvcc --version | tail -2
} >"$device_txt" 2>&1
gpus=0
if command -v nvidia-smi >/dev/null; then
  gpus=$(timeout 20 nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
fi
# CUDA_VISIBLE_DEVICES set and empty hides every device from CUDA (the CPU self-test uses that).
if [ "${CUDA_VISIBLE_DEVICES-unset}" = "" ]; then gpus=0; fi
echo "# CUDA devices: $gpus" >>"$device_txt"

# ---- Configure and build -----------------------------------------------------------------------
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLOOM_WITH_CONTROL_PLANE=OFF -DLOOM_WITH_MPI=OFF
            -DLOOM_WITH_CUDA=ON -DLOOM_BUILD_TESTS=ON -DLOOM_BUILD_BENCH=ON)
if command -v ccache >/dev/null; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache
               -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
have_tests=1
if [ $skip_build -eq 0 ]; then
  if [ -n "$gtest_src" ] && [ ! -d "$build/_gtest" ]; then
    step "build googletest" 120 "$log_build" bash -c \
      "cmake -S '$gtest_src' -B '$build/_gtest-build' -G Ninja -DCMAKE_BUILD_TYPE=Release \
         -DCMAKE_INSTALL_PREFIX='$build/_gtest' -DBUILD_GMOCK=OFF &&
       cmake --build '$build/_gtest-build' -j $jobs && cmake --install '$build/_gtest-build'"
  fi
  [ -d "$build/_gtest" ] && cmake_args+=(-DCMAKE_PREFIX_PATH="$build/_gtest")
  nccl_h=$(find /usr/local/cuda/include /usr/include -maxdepth 1 -name nccl.h 2>/dev/null | head -1)
  if [ -z "${NCCL_HOME:-}" ] && [ -z "$nccl_h" ] && nccl_home=$(nccl_from_python "$build/_nccl"); then
    cmake_args+=(-DLOOM_NCCL_INCLUDE_DIR="$nccl_home/include"
                 -DLOOM_NCCL_LIBRARY="$nccl_home/lib/libnccl.so")
    echo "# NCCL from PyTorch's wheel: $(readlink -f "$nccl_home/lib/libnccl.so")" >>"$device_txt"
  fi
  if ! step configure 90 "$log_build" cmake -S "$root" -B "$build" "${cmake_args[@]}"; then
    if grep -q "GTest" "$log_build"; then
      # No GoogleTest on this machine and none carried: build the rest, say what is missing.
      steps+=("tests|MISSING: no GTest (carry .deps/googletest: --prepare-deps)|0")
      have_tests=0
      step "configure without tests" 90 "$log_build" \
        cmake -S "$root" -B "$build" "${cmake_args[@]}" -DLOOM_BUILD_TESTS=OFF
    fi
  fi
  step build "${LOOM_GPU_CHECK_BUILD_S:-300}" "$log_build" cmake --build "$build" -j "$jobs"
  build_ok=$?
else
  steps+=("configure + build|skipped: --skip-build ($build)|0")
  [ -x "$build/bin/loom-train" ] && [ -x "$build/bin/loom-bench" ]
  build_ok=$?
  [ $build_ok -eq 0 ] || { steps+=("built tree|FAIL: no loom-train/loom-bench in $build/bin|0"); failed=1; }
fi

bin="$build/bin"
if [ $build_ok -eq 0 ]; then
  # ---- GPU tests (GEMM correctness, NCCL on one rank, the GPU step against the CPU step) -------
  if [ $have_tests -eq 1 ]; then
    # Several test processes share the GPU: each entry pays a process and a CUDA context, and
    # ~300 entries one after another would spend the limit on start-ups.
    step "ctest -L gpu" 150 "$log_ctest" ctest --test-dir "$build" -L gpu --output-on-failure \
      --timeout 140 -j "$((jobs < 8 ? jobs : 8))"
  fi
  # ---- GEMM: our Hopper kernel and the portable one against cuBLASLt, same run --------------
  gemm() {
    local name=$1; shift
    step "gemm $name" 150 "$gemm_json" "$bin/loom-bench" gemm --backend loom --portable --json "$@"
  }
  gemm "4096^3 NN" --m 4096 --n 4096 --k 4096 --op NN
  gemm "8192^3 NN" --m 8192 --n 8192 --k 8192 --op NN
  gemm "GPT-layer shapes" --shapes gpt --iters 10 --warmup 3
  # ---- NCCL: the communicator on one rank, then every GPU as one job over the TCP rendezvous -
  if [ -x "$build/tests/comm_nccl_test" ]; then
    step "nccl 1 rank" 60 "$log_nccl" "$build/tests/comm_nccl_test"
  fi
  if [ "$gpus" -ge 2 ]; then
    port=$((29500 + RANDOM % 1000))
    export -f launch_ranks
    step "nccl $gpus ranks (loom-train)" 90 "$log_nccl" bash -c 'launch_ranks "$@"' _ "$gpus" \
      "$port" "$bin/loom-train" --device gpu --layers 2 --hidden 1024 --heads 8 --seq 512 \
      --vocab 8192 --steps 3 --warmup 1 --bucket-mb 4
  else
    steps+=("nccl multi-rank|skipped: $gpus GPU(s)|0")
  fi
  # ---- loom-train on one GPU: 7B-shaped layers, as many as fit; ours, then cuBLASLt ----------
  for g in loom cublas; do
    step "loom-train 7B-shaped ($g)" 150 "$train_json" env -u RANK -u WORLD_SIZE "$bin/loom-train" \
      --device gpu --preset 7B --layers fit --gemm "$g" --steps 4 --warmup 2 --json
  done
else
  steps+=("tests, benchmarks, loom-train|not run: nothing built|0")
fi

# ---- Summary -----------------------------------------------------------------------------------
{
  echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ), $gpus CUDA device(s), $((SECONDS - start)) s of ${budget} s"
  printf '%-36s %-48s %6s\n' step status seconds
  for s in "${steps[@]}"; do
    IFS='|' read -r name status took <<<"$s"
    printf '%-36s %-48s %6s\n' "$name" "$status" "$took"
  done
  if command -v python3 >/dev/null; then
    python3 - "$gemm_json" "$train_json" <<'EOF'
import json, sys
# Targets (docs/GPU.md): ratio to cuBLASLt >= 1.0 at 8192^3 NN, 0.9 at 4096^3, 0.85 GPT shapes.
def target(row):
    if row["case"] == "custom":
        return 1.0 if row["M"] >= 8192 else 0.9
    return 0.85
# gemm.json: each run's "### step" line, then its JSON array (several lines long).
text = "".join(l for l in open(sys.argv[1]) if not l.startswith("###"))
rows, at, decoder = [], 0, json.JSONDecoder()
while (start := text.find("[", at)) >= 0:
    try:
        obj, at = decoder.raw_decode(text, start)
    except ValueError:
        at = start + 1
        continue
    if isinstance(obj, list):
        rows += [r for r in obj if isinstance(r, dict) and "case" in r]
if rows:
    print("\n%-22s %-3s %6s %6s %6s %8s %8s %6s %6s %9s %s" % (
        "gemm", "op", "M", "N", "K", "loom TF", "cublas", "ratio", "port.", "maxdiff", "target"))
    for r in rows:
        t, ratio = target(r), r.get("ratio_vs_cublas")
        verdict = "-" if ratio is None else ("ok" if ratio >= t else "MISS")
        print("%-22s %-3s %6d %6d %6d %8s %8s %6s %6s %9s >=%.2f %s" % (
            r["case"] if r["case"] != "custom" else "square", r["op"], r["M"], r["N"], r["K"],
            r.get("loom_TFLOPs"), r.get("cublas_TFLOPs"), ratio, r.get("portable_ratio_vs_cublas"),
            r.get("maxdiff"), t, verdict))
config = None
for line in open(sys.argv[2]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    if "model" in d:
        config = d
    elif "median" in d and config:
        print("\nloom-train %s: %d layers, gemm %s on %s: median step %.1f ms, compute %.1f ms, "
              "%.1f TFLOP/s, MFU %.1f%% (target >= 50%%: %s)" % (
                  config["model"], config["layers"], config["gemm"], config["device"],
                  d["step_ms"], d["compute_ms"], d["tflops"], d["mfu"] * 100,
                  "ok" if d["mfu"] >= 0.5 else "MISS"))
EOF
  fi
  echo "files in $out: build.log ctest-gpu.log gemm.json nccl.log train.json device.txt summary.txt"
} | tee "$summary_txt"
exit $failed
