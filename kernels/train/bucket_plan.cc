#include "kernels/train/bucket_plan.h"

namespace loom::train {

std::vector<GradBucket> PlanGradBuckets(const ParamLayout& layout, int64_t bucket_elems) {
  std::vector<GradBucket> plan;
  plan.push_back({layout.embedding_offset(), layout.total(), GradBucket::kAfterHead});
  int64_t begin = 0;  // first layer element not yet in a bucket
  for (int64_t l = layout.layers - 1; l > 0; --l) {
    const int64_t end = layout.LayerOffset(l) + layout.layer_elems();
    if (end - begin >= bucket_elems) {
      plan.push_back({begin, end, l});
      begin = end;
    }
  }
  if (layout.layers > 0) {
    plan.push_back({begin, layout.embedding_offset(), GradBucket::kAfterLookup});
  }
  return plan;
}

}  // namespace loom::train
