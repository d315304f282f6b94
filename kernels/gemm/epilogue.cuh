// The epilogue both GPU kernels share: D = alpha * acc + beta * C for two adjacent columns of one
// row, with bounds checks (tiles overhang the matrix at M and N edges) and paired stores when the
// address allows them.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/gemm/gemm.h"

namespace loom::gemm::internal {

struct EpilogueArgs {
  const void* c;
  void* d;
  int64_t ldc, ldd, stride_c, stride_d;
  float alpha, beta;
  int m, n;
  bool out_f32;

  __device__ float LoadC(int64_t idx) const {
    return out_f32 ? static_cast<const float*>(c)[idx]
                   : __bfloat162float(static_cast<const __nv_bfloat16*>(c)[idx]);
  }

  // Writes columns col and col + 1 of `row` in batch entry `batch`.
  __device__ void Store2(int64_t batch, int row, int col, float v0, float v1) const {
    if (row >= m || col >= n) return;
    const bool both = col + 1 < n;
    v0 *= alpha;
    v1 *= alpha;
    if (beta != 0.0f) {
      const int64_t ci = batch * stride_c + int64_t(row) * ldc + col;
      v0 += beta * LoadC(ci);
      if (both) v1 += beta * LoadC(ci + 1);
    }
    const int64_t di = batch * stride_d + int64_t(row) * ldd + col;
    if (out_f32) {
      float* p = static_cast<float*>(d) + di;
      if (both && (reinterpret_cast<uintptr_t>(p) & 7) == 0) {
        *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
      } else {
        p[0] = v0;
        if (both) p[1] = v1;
      }
    } else {
      __nv_bfloat16* p = static_cast<__nv_bfloat16*>(d) + di;
      if (both && (reinterpret_cast<uintptr_t>(p) & 3) == 0) {
        *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(v0, v1);
      } else {
        p[0] = __float2bfloat16_rn(v0);
        if (both) p[1] = __float2bfloat16_rn(v1);
      }
    }
  }
};

// Fills the epilogue arguments from a validated descriptor (host side).
inline EpilogueArgs MakeEpilogueArgs(const GemmDesc& g, const void* c, void* d) {
  return EpilogueArgs{c,        d,       g.ldc,   g.ldd,        g.stride_c, g.stride_d,
                      g.alpha,  g.beta,  int(g.m), int(g.n),    g.out_type == DType::kF32};
}

}  // namespace loom::gemm::internal
