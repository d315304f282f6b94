// cuBLASLt backend: the yardstick Loom's kernels are measured against, and a selectable fallback.
// cuBLASLt is column-major; a row-major M x N result is the column-major N x M matrix D^T, and
// D^T = op(B)^T op(A)^T, so we hand cuBLASLt B as its first operand and A as its second, each
// described by its stored shape read column-major (a row-major R x C matrix is a column-major
// C x R one with the same leading dimension). The ops carry over unchanged.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/cuda_check.h"
#include "kernels/gemm/gpu_kernels.h"

namespace loom::gemm::internal {
namespace {

// cuBLAS's advice for Hopper: 32 MiB lets every algorithm (split-K included) be chosen.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

template <typename T, cublasStatus_t (*Destroy)(T)>
struct LtDeleter {
  void operator()(T p) const { Destroy(p); }
};
template <typename T, cublasStatus_t (*Destroy)(T)>
using LtPtr = std::unique_ptr<std::remove_pointer_t<T>, LtDeleter<T, Destroy>>;
using MatmulDescPtr = LtPtr<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using LayoutPtr = LtPtr<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using PreferencePtr = LtPtr<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

// One handle per thread: cuBLASLt handles are cheap, and this keeps calls from different threads
// independent without a lock on the hot path.
StatusOr<cublasLtHandle_t> ThreadHandle() {
  struct Holder {
    cublasLtHandle_t handle = nullptr;
    ~Holder() {
      if (handle != nullptr) cublasLtDestroy(handle);
    }
  };
  thread_local Holder holder;
  if (holder.handle == nullptr) LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&holder.handle));
  return holder.handle;
}

// A workspace may only be used by one matmul at a time, and calls on one stream are ordered, so
// each (device, stream) pair gets its own. They live until the process ends.
StatusOr<void*> WorkspaceFor(int device, cudaStream_t stream) {
  static std::mutex mu;
  static std::map<std::pair<int, cudaStream_t>, void*> workspaces;  // guarded by mu
  std::lock_guard<std::mutex> lock(mu);
  void*& ws = workspaces[{device, stream}];
  if (ws == nullptr) LOOM_CUDA_RETURN_IF_ERROR(cudaMalloc(&ws, kWorkspaceBytes));
  return ws;
}

// The largest power of two (up to 256) dividing the address: cuBLASLt's heuristic assumes
// 256-byte aligned operands unless told otherwise, and its choice can fail on less aligned ones.
uint32_t AlignmentOf(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && addr % align != 0) align /= 2;
  return align;
}

// Heuristic queries cost tens of microseconds of host time, as much as a small GEMM's device
// time; a training step repeats the same shapes, so the chosen algorithm is cached per shape.
struct AlgoKey {
  int device;
  Op op_a, op_b;
  DType out_type;
  bool beta_nonzero;
  int64_t m, n, k, lda, ldb, ldc, ldd, batch, stride_a, stride_b, stride_c, stride_d;
  uint32_t align_a, align_b, align_c, align_d;
  auto Tie() const {
    return std::tie(device, op_a, op_b, out_type, beta_nonzero, m, n, k, lda, ldb, ldc, ldd, batch,
                    stride_a, stride_b, stride_c, stride_d, align_a, align_b, align_c, align_d);
  }
  bool operator<(const AlgoKey& o) const { return Tie() < o.Tie(); }
};

class AlgoCache {
 public:
  bool Find(const AlgoKey& key, cublasLtMatmulAlgo_t* algo) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = algos_.find(key);
    if (it == algos_.end()) return false;
    *algo = it->second;
    return true;
  }
  void Insert(const AlgoKey& key, const cublasLtMatmulAlgo_t& algo) {
    std::lock_guard<std::mutex> lock(mu_);
    algos_.emplace(key, algo);
  }

 private:
  std::mutex mu_;
  std::map<AlgoKey, cublasLtMatmulAlgo_t> algos_;  // guarded by mu_
};

AlgoCache& Algos() {
  static AlgoCache* cache = new AlgoCache;  // never destroyed: used until the process exits
  return *cache;
}

cublasOperation_t ToCublas(Op op) { return op == Op::kN ? CUBLAS_OP_N : CUBLAS_OP_T; }

// Describes a row-major rows x cols matrix (leading dimension ld) as cuBLASLt's column-major
// cols x rows one, with batch count and stride.
StatusOr<LayoutPtr> RowMajorLayout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                                   int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t raw = nullptr;
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&raw, type, static_cast<uint64_t>(cols),
                                                         static_cast<uint64_t>(rows), ld));
  LayoutPtr layout(raw);
  const int32_t count = static_cast<int32_t>(batch);
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(
      raw, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(
      raw, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  return layout;
}

// cuBLASLt's first-ranked algorithm for the problem, from the cache or a heuristic query.
StatusOr<cublasLtMatmulAlgo_t> ChooseAlgo(cublasLtHandle_t handle, cublasLtMatmulDesc_t op,
                                          cublasLtMatrixLayout_t first,
                                          cublasLtMatrixLayout_t second,
                                          cublasLtMatrixLayout_t c_layout,
                                          cublasLtMatrixLayout_t d_layout, const AlgoKey& key) {
  cublasLtMatmulAlgo_t algo;
  if (Algos().Find(key, &algo)) return algo;
  cublasLtMatmulPreference_t raw_pref = nullptr;
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&raw_pref));
  PreferencePtr pref(raw_pref);
  const uint64_t ws_bytes = kWorkspaceBytes;
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes));
  // cuBLASLt's operand A is our B and its B is our A (see the file comment).
  const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_d}};
  for (const auto& [attr, bytes] : alignments) {
    LOOM_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulPreferenceSetAttribute(raw_pref, attr, &bytes, sizeof bytes));
  }
  cublasLtMatmulHeuristicResult_t heuristic = {};
  int found = 0;
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulAlgoGetHeuristic(
      handle, op, first, second, c_layout, d_layout, raw_pref, 1, &heuristic, &found));
  if (found == 0) {
    return Unavailable("gemm(cublas): cuBLASLt has no algorithm for " +
                       std::string(OpsName(key.op_a, key.op_b)) + " " + std::to_string(key.m) +
                       "x" + std::to_string(key.n) + "x" + std::to_string(key.k));
  }
  Algos().Insert(key, heuristic.algo);
  return heuristic.algo;
}

}  // namespace

Status CublasGemm(const GemmDesc& g, const void* a, const void* b, const void* c, void* d,
                  void* stream_ptr) {
  if (g.batch > INT32_MAX) return InvalidArgument("gemm(cublas): batch exceeds 2^31 - 1");
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  if (g.k == 0 || g.alpha == 0.0f) {
    // Nothing to multiply: D = beta * C. cuBLASLt's support for k = 0 varies between versions,
    // and A and B may be null here, so the scale-only pass runs in Loom's portable kernel.
    GemmDesc scale_only = g;
    scale_only.k = 0;
    return LaunchMmaGemm(scale_only, a, b, c, d, stream);
  }
  int device = 0;
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  LOOM_ASSIGN_OR_RETURN(cublasLtHandle_t handle, ThreadHandle());
  LOOM_ASSIGN_OR_RETURN(void* workspace, WorkspaceFor(device, stream));
  // With beta == 0 cuBLASLt does not read C, but it still wants a pointer.
  const void* c_or_d = c != nullptr ? c : d;

  cublasLtMatmulDesc_t raw_op = nullptr;
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&raw_op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  MatmulDescPtr op(raw_op);
  // Swapped operands (see the file comment): cuBLASLt's A is our B and its B is our A.
  const cublasOperation_t trans_first = ToCublas(g.op_b), trans_second = ToCublas(g.op_a);
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
      raw_op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_first, sizeof trans_first));
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
      raw_op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_second, sizeof trans_second));

  const cudaDataType_t out = g.out_type == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
  LOOM_ASSIGN_OR_RETURN(LayoutPtr first, RowMajorLayout(CUDA_R_16BF, StoredRowsB(g),
                                                        StoredColsB(g), g.ldb, g.batch, g.stride_b));
  LOOM_ASSIGN_OR_RETURN(LayoutPtr second, RowMajorLayout(CUDA_R_16BF, StoredRowsA(g),
                                                         StoredColsA(g), g.lda, g.batch, g.stride_a));
  LOOM_ASSIGN_OR_RETURN(LayoutPtr c_layout, RowMajorLayout(out, g.m, g.n, g.ldc, g.batch, g.stride_c));
  LOOM_ASSIGN_OR_RETURN(LayoutPtr d_layout, RowMajorLayout(out, g.m, g.n, g.ldd, g.batch, g.stride_d));

  const AlgoKey key{device, g.op_a, g.op_b, g.out_type, g.beta != 0.0f,
                    g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.ldd,
                    g.batch, g.stride_a, g.stride_b, g.stride_c, g.stride_d,
                    AlignmentOf(a), AlignmentOf(b), AlignmentOf(c_or_d), AlignmentOf(d)};
  LOOM_ASSIGN_OR_RETURN(const cublasLtMatmulAlgo_t algo,
                        ChooseAlgo(handle, raw_op, first.get(), second.get(), c_layout.get(),
                                   d_layout.get(), key));
  LOOM_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle, raw_op, &g.alpha, b, first.get(), a,
                                             second.get(), &g.beta, c_or_d, c_layout.get(), d,
                                             d_layout.get(), &algo, workspace,
                                             kWorkspaceBytes, stream));
  return Status::Ok();
}

}  // namespace loom::gemm::internal
