#!/usr/bin/env bash
# Compiles the Hopper kernel for sm_90a with ptxas's report on and asserts what the report can
# show without a disassembler: every instantiation compiled, no register spills, setmaxnreg kept
# (no C7508 warning), and no wgmma serialization ("Potential Performance Loss: wgmma.mma_async
# instructions are serialized", C7515/C7510), which would put HGMMA on its slow path.
#   check_ptxas.sh NVCC SOURCE INCLUDE_ROOT
set -euo pipefail
nvcc="$1" source="$2" include_root="$3"
report="$("$nvcc" -std=c++17 -O2 -I"$include_root" -gencode=arch=compute_90a,code=sm_90a \
  -Xptxas=-v -cubin -o /dev/null "$source" 2>&1)"
entries="$(grep -c "Compiling entry function '.*HopperGemmKernel.*' for 'sm_90a'" <<<"$report" || true)"
echo "$entries HopperGemmKernel instantiations compiled for sm_90a"
status=0
if [[ "$entries" -ne 4 ]]; then echo "FAIL: expected 4 (NN, NT, TN, TT)"; status=1; fi
if grep -E "[1-9][0-9]* bytes spill (stores|loads)" <<<"$report"; then
  echo "FAIL: register spills"; status=1
fi
if grep -iE "serialized|C7508|C7510|C7515|setmaxnreg.*ignored" <<<"$report"; then
  echo "FAIL: ptxas reports a wgmma/setmaxnreg performance problem"; status=1
fi
[[ "$status" -eq 0 ]] && echo "PASS: no spills, no wgmma serialization, setmaxnreg honoured"
exit "$status"
