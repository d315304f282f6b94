#include "scheduler/core/policy.h"

namespace loom::sched {

const char* WaitReasonName(WaitReason r) {
  switch (r) {
    case WaitReason::kNone: return "None";
    case WaitReason::kPriority: return "Priority";
    case WaitReason::kResources: return "Resources";
  }
  return "Unknown";
}

CapacityView::CapacityView(const Cluster& cluster) : cluster_(cluster) {
  free_.reserve(cluster.size());
  for (const Node& n : cluster.nodes()) free_.push_back(n.up ? n.free : 0);
}

void CapacityView::Take(const Allocation& allocation) {
  for (const NodeGrant& g : allocation) {
    free_[g.node] &= g.exclusive ? 0 : ~g.gpus;
  }
}

}  // namespace loom::sched
