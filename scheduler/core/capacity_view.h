// CapacityView: free GPUs as a policy sees them during one pass (the cluster's, minus what the
// policy already gave to earlier jobs of the pass, plus what it expects to be released when it
// looks ahead for a reservation).
//
// Indexed for placement at 18,750 nodes, so a placement never scans every node:
//  - nodes bucketed by their number of free GPUs (best fit for jobs inside one node is the first
//    non-empty bucket at or above the request, O(GPUs per node));
//  - per leaf switch, the list of wholly free nodes (multi-node gangs take whole nodes, and
//    counting them per leaf is what fewest-leaf placement needs).
// Buckets are vectors with a position table, so moving a node between buckets is O(1).
// Building a view is one pass over the nodes (about 0.3 ms at 18,750 nodes); copying one, as
// backfill does to look ahead, copies a few flat vectors. Both are far below a pass's budget, so
// there is no copy-on-write or journal: the simple representation is the fast one here.
#pragma once

#include <vector>

#include "scheduler/core/cluster.h"
#include "scheduler/core/types.h"

namespace loom::sched {

class CapacityView {
 public:
  explicit CapacityView(const Cluster& cluster);

  const Cluster& cluster() const { return *cluster_; }
  GpuMask free(NodeIndex n) const { return free_[n]; }
  bool whole_free(NodeIndex n) const { return free_[n] != 0 && free_[n] == all_[n]; }
  int free_gpus() const { return free_gpus_; }
  int whole_free_nodes() const { return whole_free_nodes_; }

  // The wholly free nodes under one leaf switch, roughly in the order they became free (a node
  // is appended when it frees up; one leaving is replaced by the last). Deterministic.
  const std::vector<NodeIndex>& whole_free_in_leaf(int leaf) const {
    return whole_by_leaf_[leaf].nodes;
  }
  // How many of them have at least `gpus_per_node` GPUs (all of them on a uniform leaf).
  int WholeFreeFitting(int leaf, int gpus_per_node) const;

  // The node with the fewest free GPUs that still has `gpus` free (best fit), -1 if none.
  // Among equals, a node with busy GPUs is preferred to a wholly free one.
  NodeIndex BestFit(int gpus) const;

  void Take(const Allocation& allocation);
  void Take(NodeIndex n, GpuMask gpus) { SetFree(n, free_[n] & ~gpus); }
  void Give(NodeIndex n, GpuMask gpus) { SetFree(n, free_[n] | (gpus & all_[n])); }

 private:
  static constexpr int32_t kAbsent = -1;
  struct Bucket {
    std::vector<NodeIndex> nodes;
    void Add(NodeIndex n, std::vector<int32_t>& pos);
    void Remove(NodeIndex n, std::vector<int32_t>& pos);
  };
  void Index(NodeIndex n);
  void Unindex(NodeIndex n);
  void SetFree(NodeIndex n, GpuMask free);

  const Cluster* cluster_;
  std::vector<GpuMask> free_;
  std::vector<GpuMask> all_;  // up nodes' GPUs; 0 for down nodes, so they never look free
  // partial_[k]: nodes with exactly k free GPUs, some busy. whole_[k]: wholly free nodes of k GPUs.
  std::vector<Bucket> partial_, whole_;
  std::vector<Bucket> whole_by_leaf_;
  std::vector<int> min_gpus_in_leaf_;
  std::vector<int32_t> pos_in_count_, pos_in_leaf_;
  int free_gpus_ = 0;
  int whole_free_nodes_ = 0;
};

}  // namespace loom::sched
