#!/usr/bin/env bash
# Asserts that Loom's Hopper GEMM kernels compiled to HGMMA (wgmma) instructions.
#   check_sass.sh CUOBJDUMP OBJECT...
# Exits 0 when every HopperGemmKernel instantiation in the objects contains HGMMA, 1 when one
# does not (or none is found), and 77 (ctest's skip code here) when cuobjdump is not installed.
set -euo pipefail
cuobjdump="${1:-}"
shift || true
if [[ -z "$cuobjdump" || "$cuobjdump" == *NOTFOUND* || ! -x "$cuobjdump" ]]; then
  echo "SKIP: cuobjdump not found next to nvcc (install the CUDA toolkit's cuobjdump to run this check)"
  exit 77
fi
sass="$("$cuobjdump" --dump-sass "$@")"
kernels=0
missing=0
# cuobjdump prints one "Function : <mangled name>" header per kernel, then its instructions.
while IFS= read -r name; do
  kernels=$((kernels + 1))
  body="$(awk -v fn="$name" '/Function : /{inside = ($3 == fn)} inside' <<<"$sass")"
  count="$(grep -c 'HGMMA' <<<"$body" || true)"
  echo "$name: $count HGMMA instructions"
  if [[ "$count" -eq 0 ]]; then missing=$((missing + 1)); fi
done < <(grep -o 'Function : [^ ]*HopperGemmKernel[^ ]*' <<<"$sass" | awk '{print $3}')
if [[ "$kernels" -eq 0 ]]; then
  echo "FAIL: no HopperGemmKernel found in the SASS of $*"
  exit 1
fi
if [[ "$missing" -ne 0 ]]; then
  echo "FAIL: $missing of $kernels Hopper kernels have no HGMMA (wgmma fell back to a slower path)"
  exit 1
fi
echo "PASS: all $kernels Hopper kernels use HGMMA"
