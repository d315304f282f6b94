// CPU backend: bf16 widened to fp32 at the boundary, then OpenBLAS sgemm. OpenBLAS has no fast
// bf16 path on most x86 parts, and converting is O(MK + KN + MN) against the GEMM's O(MNK), so the
// cost of the boundary shrinks as shapes grow (loom-bench gemm measures it against plain sgemm).
#include "kernels/gemm/blas.h"

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/bf16.h"

namespace loom::gemm::internal {
namespace {

// A grow-only buffer: reused across calls so a training step's repeated shapes allocate once.
// Cache-line aligned, like the buffers OpenBLAS packs from; left uninitialized on purpose, since
// every element is written before it is read.
class Scratch {
 public:
  float* Get(size_t n) {
    if (n > size_) {
      data_.reset(static_cast<float*>(::operator new[](n * sizeof(float), kAlign)));
      size_ = n;
    }
    return data_.get();
  }

 private:
  static constexpr std::align_val_t kAlign{64};
  struct Free {
    void operator()(float* p) const { ::operator delete[](p, kAlign); }
  };
  std::unique_ptr<float[], Free> data_;
  size_t size_ = 0;
};

struct ThreadScratch {
  Scratch a, b, out;
};

ThreadScratch& LocalScratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

// Runs fn(first_row, end_row) over [0, rows), split across as many threads as OpenBLAS uses.
// The conversions are memory-bound and one core does not saturate memory bandwidth; at 2048^3
// a single-threaded boundary costs ~7% of the sgemm time, split across two cores ~3%. Small
// matrices stay on the calling thread, where starting threads would cost more than it saves.
template <typename F>
void ForRows(int64_t rows, int64_t cols, F&& fn) {
  constexpr int64_t kMinElemsPerThread = int64_t{1} << 18;
  const int64_t threads =
      std::min<int64_t>({int64_t{openblas_get_num_threads()}, rows, rows * cols / kMinElemsPerThread});
  if (threads <= 1) {
    fn(int64_t{0}, rows);
    return;
  }
  const int64_t chunk = (rows + threads - 1) / threads;
  std::vector<std::thread> helpers;
  for (int64_t t = 1; t < threads; ++t) {
    helpers.emplace_back(fn, t * chunk, std::min(rows, (t + 1) * chunk));
  }
  fn(int64_t{0}, chunk);
  for (auto& h : helpers) h.join();
}

// The conversion loops, compiled for AVX-512 and AVX2 as well as the baseline (the loader picks
// one at start-up): with operands of a few MiB the data sits in cache and vector width counts.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define LOOM_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LOOM_VECTOR_CLONES
#endif

LOOM_VECTOR_CLONES void WidenRows(const uint16_t* src, int64_t first, int64_t end, int64_t cols,
                                  int64_t ld, float* dst) {
  for (int64_t r = first; r < end; ++r) {
    const uint16_t* s = src + r * ld;
    float* o = dst + r * cols;
    for (int64_t c = 0; c < cols; ++c) o[c] = Bf16BitsToFloat(s[c]);
  }
}

LOOM_VECTOR_CLONES void NarrowRows(const float* src, int64_t first, int64_t end, int64_t cols,
                                   int64_t ld_src, uint16_t* dst, int64_t ld_dst) {
  for (int64_t r = first; r < end; ++r) {
    const float* s = src + r * ld_src;
    uint16_t* o = dst + r * ld_dst;
    for (int64_t c = 0; c < cols; ++c) o[c] = FloatToBf16Bits(s[c]);
  }
}

// Widens a rows x cols bf16 matrix (leading dimension ld) to a packed fp32 one.
void Widen(const uint16_t* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
  ForRows(rows, cols, [=](int64_t first, int64_t end) { WidenRows(src, first, end, cols, ld, dst); });
}

// Rounds a rows x cols fp32 matrix to bf16, nearest-even.
void Narrow(const float* src, int64_t rows, int64_t cols, int64_t ld_src, uint16_t* dst,
            int64_t ld_dst) {
  ForRows(rows, cols, [=](int64_t first, int64_t end) {
    NarrowRows(src, first, end, cols, ld_src, dst, ld_dst);
  });
}

void CopyRows(const float* src, int64_t rows, int64_t cols, int64_t ld_src, float* dst,
              int64_t ld_dst) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * ld_dst, src + r * ld_src, static_cast<size_t>(cols) * sizeof(float));
  }
}

// D = beta * C without reading A or B (k == 0 or alpha == 0); the BLAS rules for these corner
// cases differ between implementations, so we do not hand them to OpenBLAS.
void ScaleOnly(const GemmDesc& g, const void* c, void* d, int64_t bi) {
  for (int64_t r = 0; r < g.m; ++r) {
    for (int64_t col = 0; col < g.n; ++col) {
      const int64_t ci = bi * g.stride_c + r * g.ldc + col;
      const int64_t di = bi * g.stride_d + r * g.ldd + col;
      if (g.out_type == DType::kF32) {
        const float cv = g.beta != 0.0f ? static_cast<const float*>(c)[ci] : 0.0f;
        static_cast<float*>(d)[di] = g.beta * cv;
      } else {
        const float cv =
            g.beta != 0.0f ? Bf16BitsToFloat(static_cast<const uint16_t*>(c)[ci]) : 0.0f;
        static_cast<uint16_t*>(d)[di] = FloatToBf16Bits(g.beta * cv);
      }
    }
  }
}

bool FitsBlasInt(const GemmDesc& g) {
  const int64_t largest = std::max({g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.ldd});
  return largest <= INT_MAX;
}

CBLAS_TRANSPOSE ToCblas(Op op) { return op == Op::kN ? CblasNoTrans : CblasTrans; }

}  // namespace

Status CpuGemm(const GemmDesc& g, const void* a, const void* b, const void* c, void* d) {
  if (!FitsBlasInt(g)) {
    return InvalidArgument("gemm(cpu): a dimension exceeds OpenBLAS's 32-bit index");
  }
  if (g.k == 0 || g.alpha == 0.0f) {
    for (int64_t bi = 0; bi < g.batch; ++bi) ScaleOnly(g, c, d, bi);
    return Status::Ok();
  }
  ThreadScratch& scratch = LocalScratch();
  const int64_t a_rows = StoredRowsA(g), a_cols = StoredColsA(g);
  const int64_t b_rows = StoredRowsB(g), b_cols = StoredColsB(g);
  float* a32 = scratch.a.Get(static_cast<size_t>(a_rows * a_cols));
  float* b32 = scratch.b.Get(static_cast<size_t>(b_rows * b_cols));
  const bool f32_out = g.out_type == DType::kF32;
  float* tmp = f32_out ? nullptr : scratch.out.Get(static_cast<size_t>(g.m * g.n));

  for (int64_t bi = 0; bi < g.batch; ++bi) {
    // A stride of 0 broadcasts one matrix: widen it once.
    if (bi == 0 || g.stride_a != 0) {
      Widen(static_cast<const uint16_t*>(a) + bi * g.stride_a, a_rows, a_cols, g.lda, a32);
    }
    if (bi == 0 || g.stride_b != 0) {
      Widen(static_cast<const uint16_t*>(b) + bi * g.stride_b, b_rows, b_cols, g.ldb, b32);
    }
    // fp32 output: sgemm writes D in place (beta applied by OpenBLAS after C is copied into D).
    // bf16 output: sgemm writes a packed fp32 tile that is rounded into D once.
    float* out = nullptr;
    int64_t ld_out = 0;
    if (f32_out) {
      out = static_cast<float*>(d) + bi * g.stride_d;
      ld_out = g.ldd;
      const float* c32 = static_cast<const float*>(c) + bi * g.stride_c;
      if (g.beta != 0.0f && c32 != out) CopyRows(c32, g.m, g.n, g.ldc, out, ld_out);
    } else {
      out = tmp;
      ld_out = g.n;
      if (g.beta != 0.0f) {
        Widen(static_cast<const uint16_t*>(c) + bi * g.stride_c, g.m, g.n, g.ldc, tmp);
      }
    }
    cblas_sgemm(CblasRowMajor, ToCblas(g.op_a), ToCblas(g.op_b), static_cast<int>(g.m),
                static_cast<int>(g.n), static_cast<int>(g.k), g.alpha, a32,
                static_cast<int>(a_cols), b32, static_cast<int>(b_cols), g.beta, out,
                static_cast<int>(ld_out));
    if (!f32_out) {
      Narrow(tmp, g.m, g.n, g.n, static_cast<uint16_t*>(d) + bi * g.stride_d, g.ldd);
    }
  }
  return Status::Ok();
}

}  // namespace loom::gemm::internal
