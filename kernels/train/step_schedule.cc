#include "kernels/train/step_schedule.h"

namespace loom::train {

std::vector<StepOp> PlanStepSchedule(const std::vector<GradBucket>& buckets, int64_t layers,
                                     bool distributed) {
  std::vector<StepOp> ops = {{StepOp::kForward}, {StepOp::kHeadBackward}};
  size_t next = 0;  // the next bucket to launch
  auto launch_ready = [&](int64_t point) {
    while (distributed && next < buckets.size() && buckets[next].launch_after == point) {
      ops.push_back({StepOp::kLaunchBucket, static_cast<int64_t>(next++)});
    }
  };
  launch_ready(GradBucket::kAfterHead);
  for (int64_t l = layers - 1; l >= 0; --l) {
    ops.push_back({StepOp::kLayerBackward, l});
    launch_ready(l);
  }
  if (!distributed) {
    ops.push_back({StepOp::kLookupScatter});
    ops.push_back({StepOp::kUpdate, -1});
    return ops;
  }
  ops.push_back({StepOp::kGatherLookup});
  ops.push_back({StepOp::kWaitGather});
  ops.push_back({StepOp::kLookupScatter});
  launch_ready(GradBucket::kAfterLookup);
  for (size_t i = 0; i < next; ++i) {
    ops.push_back({StepOp::kWaitBucket, static_cast<int64_t>(i)});
    ops.push_back({StepOp::kUpdate, static_cast<int64_t>(i)});
  }
  return ops;
}

}  // namespace loom::train
