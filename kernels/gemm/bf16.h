// Bf16: bfloat16 storage usable on the host (CPU backend, tests, benchmarks) without CUDA headers.
// The bit layout is that of __nv_bfloat16 (sign, 8 exponent bits, 7 mantissa bits), so buffers of
// Bf16 can be copied to the device and read there as __nv_bfloat16.
#pragma once

#include <cstdint>
#include <cstring>

namespace loom::gemm {

struct Bf16 {
  uint16_t bits = 0;

  static Bf16 FromBits(uint16_t b) { return Bf16{b}; }
  static Bf16 FromFloat(float f);
  float ToFloat() const;
};
static_assert(sizeof(Bf16) == 2, "Bf16 must be layout-compatible with __nv_bfloat16");

inline float Bf16BitsToFloat(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest, ties to even (what __float2bfloat16_rn does). NaN stays NaN: without the
// special case, rounding could carry a NaN's payload into the exponent and make it infinity.
inline uint16_t FloatToBf16Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

inline Bf16 Bf16::FromFloat(float f) { return Bf16{FloatToBf16Bits(f)}; }
inline float Bf16::ToFloat() const { return Bf16BitsToFloat(bits); }

}  // namespace loom::gemm
