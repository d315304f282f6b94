#include "scheduler/policies/gang_placer.h"

#include <algorithm>

namespace loom::sched {
namespace {

struct LeafFree {
  int leaf;
  int nodes;  // whole free nodes with enough GPUs
};

// The leaves to take `need` nodes from, fewest leaves first; empty if they cannot be found.
std::vector<LeafFree> ChooseLeaves(const CapacityView& view, int need, int gpus_per_node,
                                   bool one_leaf) {
  std::vector<LeafFree> leaves;
  int total = 0;
  for (int leaf = 0; leaf < view.cluster().leaf_count(); ++leaf) {
    if (view.whole_free_in_leaf(leaf).empty()) continue;
    const int nodes = view.WholeFreeFitting(leaf, gpus_per_node);
    if (nodes > 0) leaves.push_back({leaf, nodes});
    total += nodes;
  }
  if (total < need) return {};
  // One leaf is enough: the one with the fewest free nodes that holds the gang (best fit), so
  // emptier leaves stay whole for larger gangs.
  auto best = leaves.end();
  for (auto it = leaves.begin(); it != leaves.end(); ++it) {
    if (it->nodes >= need && (best == leaves.end() || it->nodes < best->nodes)) best = it;
  }
  if (best != leaves.end()) return {*best};
  if (one_leaf) return {};
  // Fewest leaves: taking the fullest first is optimal for the count. The last leaf is then the
  // emptiest among the rest that still covers what remains.
  std::sort(leaves.begin(), leaves.end(), [](const LeafFree& a, const LeafFree& b) {
    return a.nodes != b.nodes ? a.nodes > b.nodes : a.leaf < b.leaf;
  });
  size_t used = 0;
  int covered = 0;
  while (covered + leaves[used].nodes < need) covered += leaves[used++].nodes;
  const int rest = need - covered;
  size_t last = used;
  for (size_t i = used; i < leaves.size() && leaves[i].nodes >= rest; ++i) last = i;
  std::vector<LeafFree> chosen(leaves.begin(), leaves.begin() + used);
  chosen.push_back({leaves[last].leaf, rest});
  return chosen;
}

bool PlaceInOneNode(const CapacityView& view, const JobRequest& request, Allocation* out) {
  const NodeIndex best = view.BestFit(request.gpus);
  if (best < 0) return false;
  out->push_back({best, LowestFree(view.free(best), request.gpus), false});
  return true;
}

bool PlaceWholeNodes(const CapacityView& view, const JobRequest& request, Allocation* out) {
  const int need = request.nodes();
  const int gpn = request.gpus_per_node;
  if (view.whole_free_nodes() < need) return false;  // the common case on a full cluster: O(1)
  const bool one_leaf = request.leaf == LeafConstraint::kRequireOne;
  for (const LeafFree& lf : ChooseLeaves(view, need, gpn, one_leaf)) {
    int want = std::min(lf.nodes, need - static_cast<int>(out->size()));
    // Roughly newest-freed first (the view appends nodes as they free up): when backfill looks
    // ahead for a reservation, these are the nodes running jobs give back, which leaves the nodes
    // free now to backfill.
    const std::vector<NodeIndex>& nodes = view.whole_free_in_leaf(lf.leaf);
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      const NodeIndex n = *it;
      if (want == 0) break;
      if (view.cluster().node(n).gpu_count < gpn) continue;
      out->push_back({n, LowBits(gpn), true});
      --want;
    }
  }
  if (static_cast<int>(out->size()) != need) {
    out->clear();
    return false;
  }
  // Ranks in node order, so neighbouring ranks sit on neighbouring nodes of a leaf.
  std::sort(out->begin(), out->end(),
            [](const NodeGrant& a, const NodeGrant& b) { return a.node < b.node; });
  return true;
}

}  // namespace

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
  out->clear();
  return request.nodes() == 1 ? PlaceInOneNode(view, request, out)
                              : PlaceWholeNodes(view, request, out);
}

}  // namespace loom::sched
