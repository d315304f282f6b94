// loom::gemm — the one matrix-multiply entry point of Loom's training step.
//
//   D[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b]        for b in [0, batch)
//
// All matrices are row-major. op(A) is M x K and op(B) is K x N; D and C are M x N.
//   op_a = kN: A is stored M x K (lda >= K)    op_a = kT: A is stored K x M (lda >= M)
//   op_b = kN: B is stored K x N (ldb >= N)    op_b = kT: B is stored N x K (ldb >= K)
//   C and D:  ldc >= N, ldd >= N.
// A and B are bf16 (loom::gemm::Bf16 on the host, __nv_bfloat16 on the device); products are
// accumulated in fp32; C and D share `out_type` (bf16 or fp32). alpha and beta are fp32.
//
// Backends:
//   kCpu     host pointers; OpenBLAS sgemm with bf16 widened to fp32 at the boundary.
//   kLoom    device pointers; Loom's own kernels: the sm_90a TMA/wgmma kernel on Hopper when the
//            operands suit the copy engine (16-byte aligned rows), the sm_80 mma.sync kernel else.
//   kCublas  device pointers; cuBLASLt, the yardstick and a fallback.
// GPU backends enqueue on `stream` (a cudaStream_t, nullptr for the legacy default stream) and
// return without synchronizing; the CPU backend ignores `stream` and returns when D is written.
//
// Threads: Gemm() may be called from several threads at once. The CPU backend keeps its scratch
// per thread; the cuBLASLt backend keeps one workspace per (device, stream).
// Errors: InvalidArgument for a malformed descriptor (one line saying which field), Unavailable
// when the backend is not built or no device is present, Internal when CUDA or cuBLASLt fails.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace loom::gemm {

enum class Op { kN, kT };
enum class DType { kBF16, kF32 };
enum class Backend { kCpu, kLoom, kCublas };

struct GemmDesc {
  Op op_a = Op::kN;
  Op op_b = Op::kN;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  float beta = 0.0f;
  // Leading dimensions in elements; 0 means "packed" (the smallest legal value for the shape).
  int64_t lda = 0, ldb = 0, ldc = 0, ldd = 0;
  // Batched/strided: element offsets between consecutive matrices. With batch > 1 a stride of 0
  // reuses one matrix for every batch entry (A, B or C only; D needs distinct matrices).
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0, stride_d = 0;
  DType out_type = DType::kBF16;  // the type of C and D
};

// A descriptor for packed storage: leading dimensions and batch strides at their minimum.
GemmDesc PackedDesc(Op op_a, Op op_b, int64_t m, int64_t n, int64_t k, int64_t batch = 1,
                    DType out_type = DType::kBF16);

// Checks `desc` and the pointers it needs; on success returns the descriptor with every leading
// dimension filled in. C may be null when beta == 0; C may equal D (in-place accumulate) when
// ldc == ldd and stride_c == stride_d.
StatusOr<GemmDesc> Validate(const GemmDesc& desc, const void* a, const void* b, const void* c,
                            const void* d);

Status Gemm(const GemmDesc& desc, const void* a, const void* b, const void* c, void* d,
            Backend backend, void* stream = nullptr);

// "cpu", "loom", "cublas" (what `--gemm` and `loom-bench gemm --backend` accept).
StatusOr<Backend> ParseBackend(std::string_view name);
const char* BackendName(Backend backend);
// "NN", "NT", "TN", "TT": op_a then op_b.
StatusOr<std::pair<Op, Op>> ParseOps(std::string_view name);
const char* OpsName(Op op_a, Op op_b);

// Whether this build has the CUDA backends, and whether a device is present right now.
bool BuiltWithCuda();
bool CudaDeviceAvailable();

// Floating-point operations of one call: 2 * M * N * K * batch.
inline double GemmFlops(const GemmDesc& d) {
  return 2.0 * static_cast<double>(d.m) * static_cast<double>(d.n) * static_cast<double>(d.k) *
         static_cast<double>(d.batch);
}

}  // namespace loom::gemm
