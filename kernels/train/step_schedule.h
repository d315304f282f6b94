// The order of a GPU step's work on its two streams, as data: what the compute stream does, when
// a bucket's all-reduce starts on the communication stream, and what the compute stream waits
// for. Pure, so the dependencies the events must enforce are checked on CPU (gpu_plan_test); the
// GPU trainer executes the list as it stands.
//
// The rules: a bucket starts after the backward that completes its gradients (an event recorded
// on the compute stream, waited on by the communication stream); the embedding's bucket starts
// before the lookup's all-gather, so stream order reduces it before the scatter-add lands on it;
// the scatter-add waits for the all-gather; each bucket's optimizer update waits for its
// all-reduce, in launch order, so updating the earlier buckets hides the last one.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/train/bucket_plan.h"

namespace loom::train {

struct StepOp {
  enum Kind {
    kForward,        // compute: embedding, every layer, logits, the loss gradient
    kHeadBackward,   // compute: the LM head's input and embedding gradients
    kLayerBackward,  // compute: layer `index`
    kLaunchBucket,   // comm, after the compute so far: all-reduce bucket `index`
    kGatherLookup,   // comm, after the compute so far: all-gather token ids and input gradients
    kWaitGather,     // compute waits for kGatherLookup
    kLookupScatter,  // compute: the embedding lookup's gradient, scatter-added
    kWaitBucket,     // compute waits for bucket `index`'s all-reduce
    kUpdate,         // compute: optimizer on bucket `index` (-1: every parameter)
  };
  Kind kind;
  int64_t index = -1;
};

// `buckets` in launch order (PlanGradBuckets). Without `distributed` (one rank) there is no
// communication: backward, the lookup's scatter-add of local gradients, one update of all.
std::vector<StepOp> PlanStepSchedule(const std::vector<GradBucket>& buckets, int64_t layers,
                                     bool distributed);

}  // namespace loom::train
