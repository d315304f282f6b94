// GangPlacer: all of a job's GPUs or none, on as few leaf switches as possible.
// Assumptions:
//  - A job that fits on one node gets GPUs of one node, chosen best-fit (the node with the fewest
//    free GPUs that still fit, a partly busy node before a whole one) so whole nodes stay free
//    for large jobs.
//  - A multi-node job takes whole free nodes (gpus_per_node GPUs used on each), because its ranks
//    share the nodes' NICs and NVLink with nothing else.
//  - Nodes under one leaf switch talk at full bisection; crossing leaves goes through the spines
//    (Slurm's topology/tree, Kueue's topology-aware scheduling). So a gang goes to the single leaf
//    with the fewest free nodes that holds it (best fit between leaves); failing that, to the
//    fewest leaves: the fullest leaves first, the last one the emptiest that covers the rest.
//  - Leaves under one spine are not told apart: at the sizes we target every leaf reaches every
//    spine (a two-level fat tree).
//  - LeafConstraint::kRequireOne refuses any placement over more than one leaf; the policy turns
//    kPreferOne into kRequireOne or kFewest according to how long the job has waited.
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
