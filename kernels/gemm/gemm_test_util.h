// Test support shared by the CPU and GPU GEMM suites: random bf16 operands, a double-precision
// reference, and the error bound every backend is held to.
//
// Error bound. A and B hold bf16 values and the reference multiplies those same values in double,
// so input rounding is not an error here; what a backend may get wrong is
//  (1) the fp32 accumulation of K products. Each addition rounds with relative error <= u32 = 2^-24
//      of a partial sum bounded by S = |alpha| * sum_k |a_ik||b_kj| + |beta||c_ij|. Rounding errors
//      of random-sign data add like a random walk, so the total is ~ sqrt(K) * u32 * S; we allow
//      16 times that (2^-20 * sqrt(K) * S), which also covers tensor cores that align addends to
//      fewer than 24 bits, and blocked sums that split K differently.
//  (2) the final rounding of D to its type: u_out * |d_ij| with u_out = 2^-8 for bf16 (8 significant
//      bits with the implicit one, round to nearest) and 2^-24 for fp32.
// So |d_ij - ref_ij| <= u_out * |ref_ij| + 2 * 2^-20 * sqrt(K) * S_ij (the factor 2 covers the
// accumulated error being rounded once more). A wrong layout, a dropped K tail or a missing beta
// term produces errors of order S_ij, thousands of times this bound.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/bf16.h"
#include "kernels/gemm/gemm.h"

namespace loom::gemm::testing {

// A problem's host-side operands. C is stored in the output type (bf16 bits or fp32).
struct Problem {
  GemmDesc desc;
  std::vector<Bf16> a, b;
  std::vector<Bf16> c_bf16;
  std::vector<float> c_f32;

  const void* c() const {
    return desc.out_type == DType::kF32 ? static_cast<const void*>(c_f32.data())
                                        : static_cast<const void*>(c_bf16.data());
  }
  size_t OutElems() const { return static_cast<size_t>(ElemsSpan(desc.m, desc.ldd, desc.stride_d)); }
  float CAt(int64_t idx) const {
    return desc.out_type == DType::kF32 ? c_f32[idx] : c_bf16[idx].ToFloat();
  }

  // Elements spanned by `batch` matrices of `rows` rows (leading dimension ld, batch stride).
  int64_t ElemsSpan(int64_t rows, int64_t ld, int64_t stride) const {
    return (desc.batch - 1) * stride + rows * ld;
  }
};

// Short names for test parameters (ctest lists value-parameterized cases with their printed values).
struct Shape {
  int64_t m, n, k;
};
inline void PrintTo(const Shape& s, std::ostream* os) { *os << s.m << "x" << s.n << "x" << s.k; }
inline std::string ShapeString(const Shape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

inline std::vector<Bf16> RandomBf16(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<Bf16> v(n);
  for (auto& x : v) x = Bf16::FromFloat(dist(rng));
  return v;
}

// Builds operands for a validated descriptor (leading dimensions filled in).
inline Problem MakeProblem(const GemmDesc& desc, uint32_t seed) {
  Problem p;
  static const char kA = 0, kB = 0, kC = 0, kD = 0;  // distinct non-null pointers: shapes only
  p.desc = *Validate(desc, &kA, &kB, &kC, &kD);
  const GemmDesc& g = p.desc;
  p.a = RandomBf16(p.ElemsSpan(internal::StoredRowsA(g), g.lda, g.stride_a), seed);
  p.b = RandomBf16(p.ElemsSpan(internal::StoredRowsB(g), g.ldb, g.stride_b), seed + 1);
  const size_t c_elems = static_cast<size_t>(p.ElemsSpan(g.m, g.ldc, g.stride_c));
  p.c_bf16 = RandomBf16(c_elems, seed + 2);
  p.c_f32.resize(c_elems);
  for (size_t i = 0; i < c_elems; ++i) p.c_f32[i] = p.c_bf16[i].ToFloat();
  return p;
}

struct RefValue {
  double value;  // alpha * sum a*b + beta * c, in double
  double mag;    // S: |alpha| * sum |a||b| + |beta||c|
};

inline RefValue Reference(const Problem& p, int64_t bi, int64_t i, int64_t j) {
  const GemmDesc& g = p.desc;
  double sum = 0.0, mag = 0.0;
  for (int64_t kk = 0; kk < g.k; ++kk) {
    const int64_t ai = bi * g.stride_a + (g.op_a == Op::kN ? i * g.lda + kk : kk * g.lda + i);
    const int64_t bj = bi * g.stride_b + (g.op_b == Op::kN ? kk * g.ldb + j : j * g.ldb + kk);
    const double prod = static_cast<double>(p.a[ai].ToFloat()) * p.b[bj].ToFloat();
    sum += prod;
    mag += std::fabs(prod);
  }
  const double c = g.beta != 0.0f ? p.CAt(bi * g.stride_c + i * g.ldc + j) : 0.0;
  return {g.alpha * sum + g.beta * c, std::fabs(g.alpha) * mag + std::fabs(g.beta * c)};
}

inline double ErrorBound(const GemmDesc& g, const RefValue& ref) {
  const double u_out = g.out_type == DType::kBF16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24);
  const double acc = std::ldexp(1.0, -20) * std::sqrt(static_cast<double>(std::max<int64_t>(g.k, 1)));
  return u_out * std::fabs(ref.value) + 2.0 * acc * ref.mag + 1e-30;
}

// Reads element (bi, i, j) of an output buffer laid out like D.
inline double OutAt(const GemmDesc& g, const void* d, int64_t bi, int64_t i, int64_t j) {
  const int64_t idx = bi * g.stride_d + i * g.ldd + j;
  return g.out_type == DType::kF32 ? static_cast<const float*>(d)[idx]
                                   : static_cast<const Bf16*>(d)[idx].ToFloat();
}

// Compares `d` with the reference at every element, or at `samples` random ones when nonzero.
// Returns "" when all are within the bound, else a description of the worst element.
inline std::string CheckAgainstReference(const Problem& p, const void* d, int64_t samples = 0) {
  const GemmDesc& g = p.desc;
  double worst_ratio = 0.0;
  std::string worst;
  auto check = [&](int64_t bi, int64_t i, int64_t j) {
    const RefValue ref = Reference(p, bi, i, j);
    const double got = OutAt(g, d, bi, i, j);
    const double ratio = std::fabs(got - ref.value) / ErrorBound(g, ref);
    if (!(ratio <= 1.0) && !(ratio <= worst_ratio)) {  // also catches NaN
      worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
      worst = "D[" + std::to_string(bi) + "][" + std::to_string(i) + "][" + std::to_string(j) +
              "] = " + std::to_string(got) + ", reference " + std::to_string(ref.value) +
              " (error " + std::to_string(ratio) + "x the bound)";
    }
  };
  if (samples > 0) {
    std::mt19937_64 rng(1234);
    for (int64_t s = 0; s < samples; ++s) {
      check(static_cast<int64_t>(rng() % g.batch), static_cast<int64_t>(rng() % g.m),
            static_cast<int64_t>(rng() % g.n));
    }
  } else {
    for (int64_t bi = 0; bi < g.batch; ++bi)
      for (int64_t i = 0; i < g.m; ++i)
        for (int64_t j = 0; j < g.n; ++j) check(bi, i, j);
  }
  return worst;
}

}  // namespace loom::gemm::testing

namespace loom::gemm {
inline void PrintTo(Op op, std::ostream* os) { *os << (op == Op::kN ? "N" : "T"); }
inline void PrintTo(DType t, std::ostream* os) { *os << (t == DType::kF32 ? "f32" : "bf16"); }
}  // namespace loom::gemm
