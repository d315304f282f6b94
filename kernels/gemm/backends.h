// Backend entry points behind loom::gemm::Gemm(). Each takes a descriptor that Validate() has
// accepted (leading dimensions filled in, m, n > 0) and does no argument checking of its own.
#pragma once

#include "common/status.h"
#include "kernels/gemm/gemm.h"

namespace loom::gemm::internal {

Status CpuGemm(const GemmDesc& desc, const void* a, const void* b, const void* c, void* d);

#ifdef LOOM_GEMM_WITH_CUDA
// Which of Loom's GPU kernels runs. kAuto (what Gemm() uses) picks the Hopper TMA/wgmma kernel on
// a compute capability 9.0 device when the operands are 16-byte aligned, and the portable
// mma.sync kernel otherwise; tests and benchmarks name one to exercise it alone.
enum class LoomKernel { kAuto, kHopper, kPortable };
Status LoomGpuGemm(const GemmDesc& desc, const void* a, const void* b, const void* c, void* d,
                   void* stream, LoomKernel kernel = LoomKernel::kAuto);
Status CublasGemm(const GemmDesc& desc, const void* a, const void* b, const void* c, void* d,
                  void* stream);
#endif

// Rows and columns of A and B as stored (not as used), from the descriptor's ops.
inline int64_t StoredRowsA(const GemmDesc& g) { return g.op_a == Op::kN ? g.m : g.k; }
inline int64_t StoredColsA(const GemmDesc& g) { return g.op_a == Op::kN ? g.k : g.m; }
inline int64_t StoredRowsB(const GemmDesc& g) { return g.op_b == Op::kN ? g.k : g.n; }
inline int64_t StoredColsB(const GemmDesc& g) { return g.op_b == Op::kN ? g.n : g.k; }

}  // namespace loom::gemm::internal
