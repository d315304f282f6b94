#include "scheduler/policies/gang_placer.h"

namespace loom::sched {

GpuMask LowestFree(GpuMask free, int n) {
  GpuMask out = 0;
  for (; n > 0 && free != 0; --n) {
    GpuMask bit = free & (~free + 1);  // lowest set bit
    out |= bit;
    free &= ~bit;
  }
  return out;
}

bool GangPlacer::Place(const CapacityView& view, const JobRequest& request, Allocation* out) const {
  const Cluster& cluster = view.cluster();
  out->clear();
  if (request.nodes() == 1) {
    NodeIndex best = -1;
    int best_free = kMaxGpusPerNode + 1;
    for (NodeIndex n = 0; n < cluster.size(); ++n) {
      int free = PopCount(view.free(n));
      if (free >= request.gpus && free < best_free) {
        best = n;
        best_free = free;
      }
    }
    if (best < 0) return false;
    out->push_back({best, LowestFree(view.free(best), request.gpus), false});
    return true;
  }
  for (NodeIndex n = 0; n < cluster.size() && static_cast<int>(out->size()) < request.nodes(); ++n) {
    if (cluster.node(n).gpu_count >= request.gpus_per_node && view.whole_free(n)) {
      out->push_back({n, LowBits(request.gpus_per_node), true});
    }
  }
  if (static_cast<int>(out->size()) == request.nodes()) return true;
  out->clear();
  return false;
}

}  // namespace loom::sched
