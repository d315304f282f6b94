// GangPlacer: all of a job's GPUs or none.
// Assumptions: a job that fits on one node gets GPUs of one node, chosen best-fit (the node with
// the fewest free GPUs that still fit) so whole nodes stay free for large jobs; a multi-node job
// takes whole free nodes, gpus_per_node GPUs used on each, lowest node index first. Topology
// (leaf switches) is not considered yet.
#pragma once

#include "scheduler/core/policy.h"

namespace loom::sched {

class GangPlacer final : public Placer {
 public:
  std::string name() const override { return "gang"; }
  bool Place(const CapacityView& view, const JobRequest& request, Allocation* out) const override;
};

// The lowest `n` set bits of `free`.
GpuMask LowestFree(GpuMask free, int n);

}  // namespace loom::sched
