// The initial weights as a pure function of (seed, index): N(0, 0.02) from a counter-based hash
// (splitmix64, then Box-Muller), so the CPU trainer and a CUDA kernel produce the same weights
// without a sequential generator, and a device fills billions of them in milliseconds.
#pragma once

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define LOOM_TRAIN_HD __host__ __device__
#else
#define LOOM_TRAIN_HD
#endif

namespace loom::train {

LOOM_TRAIN_HD inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

LOOM_TRAIN_HD inline float InitialWeight(uint64_t seed, int64_t i) {
  const uint64_t r = SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(i));
  // Two 24-bit uniforms; u1 in (0, 1] so the logarithm is finite.
  const float u1 = (static_cast<float>(r >> 40) + 1.0f) * (1.0f / 16777216.0f);
  const float u2 = static_cast<float>((r >> 16) & 0xffffff) * (1.0f / 16777216.0f);
  return 0.02f * sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

}  // namespace loom::train
