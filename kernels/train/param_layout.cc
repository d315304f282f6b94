#include "kernels/train/param_layout.h"

#include <random>

#include "kernels/train/init_hash.h"

namespace loom::train {

ParamLayout LayoutOf(const ModelShape& s) {
  const int64_t h = s.hidden;
  return {h * 3 * h, h * h, h * 4 * h, 4 * h * h, s.layers, s.vocab * h};
}

std::vector<float> InitialWeights(int64_t count, uint64_t seed) {
  std::vector<float> w(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) w[i] = InitialWeight(seed, i);
  return w;
}

Batch MakeBatch(const ModelShape& s, uint64_t seed, int rank) {
  const int64_t t = s.tokens_per_rank();
  std::mt19937_64 data_rng(seed * 7919 + static_cast<uint64_t>(rank));
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(s.vocab - 1));
  Batch b;
  b.tokens.resize(t);
  b.targets.resize(t);
  for (int64_t i = 0; i < t; ++i) b.tokens[i] = token(data_rng), b.targets[i] = token(data_rng);
  return b;
}

}  // namespace loom::train
