// AVX2 + F16C kernels: 8 fp32 (or int32) lanes. Compiled with -mavx2 -mf16c -mfma; only called
// after __builtin_cpu_supports says the CPU has them (reduce_kernels.cc).
#include <immintrin.h>

#include "kernels/comm/reduce_kernels_impl.h"

namespace loom::comm::kernels {
namespace {

struct Avx2Isa {
  static constexpr size_t kWidth = 8;
  static __m256 Load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 Load(const Fp16* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // bf16 is the top half of an fp32: zero-extend to 32 bits and shift into place.
  static __m256 Load(const Bf16* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static __m256i Load(const int32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }

  static void Store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
  static void Store(Fp16* p, __m256 v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // Round to nearest even: add 0x7FFF plus the lowest kept bit, keep the top 16 bits. NaNs are
  // quieted instead (the add could carry a NaN payload into infinity).
  static void Store(Bf16* p, __m256 v) {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    r = _mm256_castps_si256(_mm256_blendv_ps(
        _mm256_castsi256_ps(r),
        _mm256_castsi256_ps(_mm256_or_si256(bits, _mm256_set1_epi32(0x400000))), nan));
    r = _mm256_srli_epi32(r, 16);
    // packus works per 128-bit lane: [a0..3 a0..3 | a4..7 a4..7]; gather qwords 0 and 2.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
  static void Store(int32_t* p, __m256i v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }

  static __m256 Add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
  static __m256 Max(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
  static __m256 Min(__m256 a, __m256 b) { return _mm256_min_ps(a, b); }
  static __m256 Div(__m256 a, int n) { return _mm256_div_ps(a, _mm256_set1_ps(float(n))); }
  static __m256i Add(__m256i a, __m256i b) { return _mm256_add_epi32(a, b); }
  static __m256i Max(__m256i a, __m256i b) { return _mm256_max_epi32(a, b); }
  static __m256i Min(__m256i a, __m256i b) { return _mm256_min_epi32(a, b); }
};

}  // namespace

const KernelTable* Avx2Kernels() {
  static const KernelTable table = MakeKernelTable<Avx2Isa>();
  return &table;
}

}  // namespace loom::comm::kernels
