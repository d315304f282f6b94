// Scalar bf16/fp16 <-> fp32 conversions, the reference the vectorized kernels are tested against.
//
// Every function here is `static inline` on purpose: this header is included by translation units
// compiled with -mavx2 or -mavx512f (reduce_kernels_avx2.cc, reduce_kernels_avx512.cc). An inline
// function with external linkage would be emitted once per TU and the linker would keep any one of
// them, possibly the AVX-512 one, for callers on a CPU without AVX-512. Internal linkage gives each
// TU its own copy, compiled for its own ISA.
#pragma once

#include <cstdint>
#include <cstring>

namespace loom::comm::half {

static inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
static inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
static inline bool IsNanBits(uint32_t bits) { return (bits & 0x7FFFFFFFu) > 0x7F800000u; }

static inline float Bf16ToFloat(uint16_t h) { return BitsFloat(uint32_t{h} << 16); }

static inline uint16_t FloatToBf16(float f) {
  uint32_t bits = FloatBits(f);
  if (IsNanBits(bits)) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet, keep sign
  bits += 0x7FFFu + ((bits >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>(bits >> 16);
}

// IEEE binary16 without _Float16 or F16C, so the reference runs on every CPU.
static inline float Fp16ToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return BitsFloat(sign | 0x7F800000u | (man << 13));  // inf, NaN
  if (exp == 0) {  // zero or subnormal: man * 2^-24, exact in fp32
    const float v = static_cast<float>(man) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return BitsFloat(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t FloatToFp16(float f) {
  const uint32_t bits = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  if (IsNanBits(bits)) return sign | 0x7E00u;
  uint32_t abits = bits & 0x7FFFFFFFu;
  const float a = BitsFloat(abits);
  if (a >= 65520.0f) return sign | 0x7C00u;  // rounds to infinity
  if (a < 6.103515625e-05f) {                // below the smallest normal: a multiple of 2^-24
    // nearbyint rounds ties to even in the default rounding mode.
    return sign | static_cast<uint16_t>(__builtin_nearbyintf(a * 16777216.0f));
  }
  abits += 0xFFFu + ((abits >> 13) & 1u);  // round the 13 dropped mantissa bits, ties to even
  return sign | static_cast<uint16_t>(((abits >> 13) - (112u << 10)) & 0x7FFFu);
}

}  // namespace loom::comm::half
