// AVX-512F kernels: 16 fp32 (or int32) lanes. Compiled with -mavx512f; only called after
// __builtin_cpu_supports("avx512f") (reduce_kernels.cc).
#include <immintrin.h>

#include "kernels/comm/reduce_kernels_impl.h"

namespace loom::comm::kernels {
namespace {

struct Avx512Isa {
  static constexpr size_t kWidth = 16;
  static __m512 Load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 Load(const Fp16* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 Load(const Bf16* p) {  // the top half of an fp32
    const __m512i w =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static __m512i Load(const int32_t* p) { return _mm512_loadu_si512(p); }

  static void Store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
  static void Store(Fp16* p, __m512 v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  // Round to nearest even as in Avx2Isa::Store(Bf16*); NaNs quieted under a mask.
  static void Store(Bf16* p, __m512 v) {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(bits, _mm512_set1_epi32(0x400000)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16)));
  }
  static void Store(int32_t* p, __m512i v) { _mm512_storeu_si512(p, v); }

  static __m512 Add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
  static __m512 Max(__m512 a, __m512 b) { return _mm512_max_ps(a, b); }
  static __m512 Min(__m512 a, __m512 b) { return _mm512_min_ps(a, b); }
  static __m512 Div(__m512 a, int n) { return _mm512_div_ps(a, _mm512_set1_ps(float(n))); }
  static __m512i Add(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
  static __m512i Max(__m512i a, __m512i b) { return _mm512_max_epi32(a, b); }
  static __m512i Min(__m512i a, __m512i b) { return _mm512_min_epi32(a, b); }
};

}  // namespace

const KernelTable* Avx512Kernels() {
  static const KernelTable table = MakeKernelTable<Avx512Isa>();
  return &table;
}

}  // namespace loom::comm::kernels
