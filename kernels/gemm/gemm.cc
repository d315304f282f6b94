#include "kernels/gemm/gemm.h"

#include <string>

#include "kernels/gemm/backends.h"

#ifdef LOOM_GEMM_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace loom::gemm {
namespace {

using internal::StoredColsA;
using internal::StoredColsB;
using internal::StoredRowsA;
using internal::StoredRowsB;

// Resolves a leading dimension of 0 to `min_ld` and rejects one below it.
Status ResolveLd(const char* name, int64_t& ld, int64_t min_ld) {
  if (ld == 0) ld = min_ld > 0 ? min_ld : 1;
  if (ld < min_ld || ld < 1) {
    return InvalidArgument(std::string("gemm: ") + name + "=" + std::to_string(ld) +
                           " is below the row length " + std::to_string(min_ld));
  }
  return Status::Ok();
}

Status CheckStride(const char* name, int64_t stride, int64_t batch, int64_t min_stride,
                   bool may_broadcast) {
  if (batch == 1) return Status::Ok();
  if (stride == 0 && may_broadcast) return Status::Ok();
  if (stride < min_stride) {
    return InvalidArgument(std::string("gemm: ") + name + "=" + std::to_string(stride) +
                           " overlaps matrices (needs >= " + std::to_string(min_stride) +
                           (may_broadcast ? ", or 0 to broadcast)" : ")"));
  }
  return Status::Ok();
}

Status CheckPointer(const char* name, const void* p, bool needed) {
  if (needed && p == nullptr) {
    return InvalidArgument(std::string("gemm: ") + name + " is null but the shape reads it");
  }
  return Status::Ok();
}

}  // namespace

GemmDesc PackedDesc(Op op_a, Op op_b, int64_t m, int64_t n, int64_t k, int64_t batch,
                    DType out_type) {
  GemmDesc d;
  d.op_a = op_a;
  d.op_b = op_b;
  d.m = m;
  d.n = n;
  d.k = k;
  d.batch = batch;
  d.out_type = out_type;
  d.lda = StoredColsA(d);
  d.ldb = StoredColsB(d);
  d.ldc = d.ldd = n;
  d.stride_a = StoredRowsA(d) * d.lda;
  d.stride_b = StoredRowsB(d) * d.ldb;
  d.stride_c = d.stride_d = m * n;
  return d;
}

StatusOr<GemmDesc> Validate(const GemmDesc& desc, const void* a, const void* b, const void* c,
                            const void* d) {
  GemmDesc g = desc;
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 1) {
    return InvalidArgument("gemm: negative size (m=" + std::to_string(g.m) + " n=" +
                           std::to_string(g.n) + " k=" + std::to_string(g.k) +
                           " batch=" + std::to_string(g.batch) + ")");
  }
  LOOM_RETURN_IF_ERROR(ResolveLd("lda", g.lda, StoredColsA(g)));
  LOOM_RETURN_IF_ERROR(ResolveLd("ldb", g.ldb, StoredColsB(g)));
  LOOM_RETURN_IF_ERROR(ResolveLd("ldc", g.ldc, g.n));
  LOOM_RETURN_IF_ERROR(ResolveLd("ldd", g.ldd, g.n));
  LOOM_RETURN_IF_ERROR(CheckStride("stride_a", g.stride_a, g.batch, StoredRowsA(g) * g.lda, true));
  LOOM_RETURN_IF_ERROR(CheckStride("stride_b", g.stride_b, g.batch, StoredRowsB(g) * g.ldb, true));
  LOOM_RETURN_IF_ERROR(CheckStride("stride_c", g.stride_c, g.batch, g.m * g.ldc, true));
  LOOM_RETURN_IF_ERROR(CheckStride("stride_d", g.stride_d, g.batch, g.m * g.ldd, false));

  const bool has_output = g.m > 0 && g.n > 0;
  const bool has_product = has_output && g.k > 0 && g.alpha != 0.0f;
  LOOM_RETURN_IF_ERROR(CheckPointer("A", a, has_product));
  LOOM_RETURN_IF_ERROR(CheckPointer("B", b, has_product));
  LOOM_RETURN_IF_ERROR(CheckPointer("C", c, has_output && g.beta != 0.0f));
  LOOM_RETURN_IF_ERROR(CheckPointer("D", d, has_output));
  if (c != nullptr && c == d && (g.ldc != g.ldd || (g.batch > 1 && g.stride_c != g.stride_d))) {
    return InvalidArgument("gemm: C aliases D with a different layout (ldc/stride_c != ldd/stride_d)");
  }
  return g;
}

Status Gemm(const GemmDesc& desc, const void* a, const void* b, const void* c, void* d,
            Backend backend, void* stream) {
  LOOM_ASSIGN_OR_RETURN(const GemmDesc g, Validate(desc, a, b, c, d));
  if (g.m == 0 || g.n == 0) return Status::Ok();
  switch (backend) {
    case Backend::kCpu:
      return internal::CpuGemm(g, a, b, c, d);
#ifdef LOOM_GEMM_WITH_CUDA
    case Backend::kLoom:
      return internal::LoomGpuGemm(g, a, b, c, d, stream);
    case Backend::kCublas:
      return internal::CublasGemm(g, a, b, c, d, stream);
#else
    case Backend::kLoom:
    case Backend::kCublas:
      (void)stream;
      return Unavailable(std::string("gemm: backend '") + BackendName(backend) +
                         "' needs CUDA, and Loom was built without CUDA");
#endif
  }
  return InvalidArgument("gemm: unknown backend");
}

StatusOr<Backend> ParseBackend(std::string_view name) {
  if (name == "cpu") return Backend::kCpu;
  if (name == "loom") return Backend::kLoom;
  if (name == "cublas") return Backend::kCublas;
  return InvalidArgument("gemm: unknown backend '" + std::string(name) +
                         "' (expected cpu, loom or cublas)");
}

const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kCpu: return "cpu";
    case Backend::kLoom: return "loom";
    case Backend::kCublas: return "cublas";
  }
  return "unknown";
}

StatusOr<std::pair<Op, Op>> ParseOps(std::string_view name) {
  if (name.size() == 2 && (name[0] == 'N' || name[0] == 'T') && (name[1] == 'N' || name[1] == 'T')) {
    return std::pair{name[0] == 'N' ? Op::kN : Op::kT, name[1] == 'N' ? Op::kN : Op::kT};
  }
  return InvalidArgument("gemm: unknown op '" + std::string(name) + "' (expected NN, NT, TN or TT)");
}

const char* OpsName(Op op_a, Op op_b) {
  static constexpr const char* kNames[2][2] = {{"NN", "NT"}, {"TN", "TT"}};
  return kNames[op_a == Op::kT][op_b == Op::kT];
}

bool BuiltWithCuda() {
#ifdef LOOM_GEMM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool CudaDeviceAvailable() {
#ifdef LOOM_GEMM_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the error so later CUDA calls do not report it again
    return false;
  }
  return count > 0;
#else
  return false;
#endif
}

}  // namespace loom::gemm
