// Which gradient ranges the GPU trainer all-reduces, and after which piece of the backward pass
// each one starts. Pure: the trainer turns each entry into an event on the compute stream that
// the communication stream waits for, then the all-reduce, then an event the optimizer waits for.
//
// Assumptions (the flat layout of param_layout.h): backward finishes the LM head first, then
// layer L-1 down to layer 0; the gradient of layer l is final once its backward is done, and
// the embedding's once the lookup's scatter-add is (see gpu_trainer.cc). Layer 0's bucket has
// nothing left to hide behind, so it starts last, after the lookup gradient.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/train/param_layout.h"

namespace loom::train {

struct GradBucket {
  static constexpr int64_t kAfterHead = -1;    // the tied embedding's LM-head part
  static constexpr int64_t kAfterLookup = -2;  // the last bucket, after the embedding lookup
  int64_t begin = 0, end = 0;  // elements of the flat gradient buffer
  // The layer whose backward completes this bucket, or kAfterHead / kAfterLookup.
  int64_t launch_after = kAfterHead;
};

// Buckets in launch order: the embedding first, then layers grouped from L-1 down until a group
// holds at least `bucket_elems` (0: one bucket per layer), and last the group holding layer 0.
// The ranges tile [0, layout.total()) exactly once.
std::vector<GradBucket> PlanGradBuckets(const ParamLayout& layout, int64_t bucket_elems);

}  // namespace loom::train
