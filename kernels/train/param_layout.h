// Where a model's parameters sit in the flat buffers both trainers use (CPU: train_step.cc, GPU:
// gpu_trainer.cc), and the initial weights and batch, so the two start from the same state and a
// GPU step can be checked against a CPU step. Pure; no I/O.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/train/model_shape.h"

namespace loom::train {

// Flat layout: layer L-1, ..., layer 0, then the tied embedding (V × h). Backward produces the
// gradients front to back, so each bucket of layers is one contiguous range.
struct ParamLayout {
  int64_t qkv = 0, proj = 0, up = 0, down = 0;  // elements of one layer's weights, in this order
  int64_t layers = 0;
  int64_t embedding_elems = 0;

  int64_t layer_elems() const { return qkv + proj + up + down; }
  int64_t embedding_offset() const { return layers * layer_elems(); }
  int64_t total() const { return embedding_offset() + embedding_elems; }
  int64_t LayerOffset(int64_t l) const { return (layers - 1 - l) * layer_elems(); }
};
ParamLayout LayoutOf(const ModelShape& shape);

// N(0, 0.02) fp32 master weights from `seed`, InitialWeight(seed, i) for i < count (the same on
// every rank: replicas start identical; the GPU trainer computes the same on the device).
std::vector<float> InitialWeights(int64_t count, uint64_t seed);

// This rank's token ids and targets for every step (the data differs per rank).
struct Batch {
  std::vector<int32_t> tokens, targets;
};
Batch MakeBatch(const ModelShape& shape, uint64_t seed, int rank);

}  // namespace loom::train
