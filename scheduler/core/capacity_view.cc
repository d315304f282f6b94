#include "scheduler/core/capacity_view.h"

#include <algorithm>

namespace loom::sched {

void CapacityView::Bucket::Add(NodeIndex n, std::vector<int32_t>& pos) {
  pos[n] = static_cast<int32_t>(nodes.size());
  nodes.push_back(n);
}

void CapacityView::Bucket::Remove(NodeIndex n, std::vector<int32_t>& pos) {
  NodeIndex last = nodes.back();
  nodes[pos[n]] = last;
  pos[last] = pos[n];
  nodes.pop_back();
  pos[n] = kAbsent;
}

CapacityView::CapacityView(const Cluster& cluster)
    : cluster_(&cluster),
      partial_(kMaxGpusPerNode + 1),
      whole_(kMaxGpusPerNode + 1),
      whole_by_leaf_(cluster.leaf_count()),
      min_gpus_in_leaf_(cluster.leaf_count(), kMaxGpusPerNode),
      pos_in_count_(cluster.size(), kAbsent),
      pos_in_leaf_(cluster.size(), kAbsent) {
  free_.reserve(cluster.size());
  all_.reserve(cluster.size());
  for (NodeIndex n = 0; n < cluster.size(); ++n) {
    const Node& node = cluster.node(n);
    all_.push_back(node.up ? node.all() : 0);
    free_.push_back(node.up ? node.free : 0);
    int& least = min_gpus_in_leaf_[cluster.leaf_of(n)];
    least = std::min(least, node.gpu_count);
    Index(n);
  }
}

void CapacityView::Index(NodeIndex n) {
  const int count = PopCount(free_[n]);
  free_gpus_ += count;
  if (count == 0) return;
  if (whole_free(n)) {
    whole_[count].Add(n, pos_in_count_);
    whole_by_leaf_[cluster_->leaf_of(n)].Add(n, pos_in_leaf_);
    ++whole_free_nodes_;
  } else {
    partial_[count].Add(n, pos_in_count_);
  }
}

void CapacityView::Unindex(NodeIndex n) {
  const int count = PopCount(free_[n]);
  free_gpus_ -= count;
  if (count == 0) return;
  if (whole_free(n)) {
    whole_[count].Remove(n, pos_in_count_);
    whole_by_leaf_[cluster_->leaf_of(n)].Remove(n, pos_in_leaf_);
    --whole_free_nodes_;
  } else {
    partial_[count].Remove(n, pos_in_count_);
  }
}

void CapacityView::SetFree(NodeIndex n, GpuMask free) {
  if (free == free_[n]) return;
  Unindex(n);
  free_[n] = free;
  Index(n);
}

void CapacityView::Take(const Allocation& allocation) {
  for (const NodeGrant& g : allocation) {
    Take(g.node, g.exclusive ? all_[g.node] : g.gpus);
  }
}

int CapacityView::WholeFreeFitting(int leaf, int gpus_per_node) const {
  const std::vector<NodeIndex>& nodes = whole_by_leaf_[leaf].nodes;
  if (gpus_per_node <= min_gpus_in_leaf_[leaf]) return static_cast<int>(nodes.size());
  return static_cast<int>(std::count_if(nodes.begin(), nodes.end(), [&](NodeIndex n) {
    return cluster_->node(n).gpu_count >= gpus_per_node;
  }));
}

NodeIndex CapacityView::BestFit(int gpus) const {
  for (int k = std::max(gpus, 1); k <= kMaxGpusPerNode; ++k) {
    if (!partial_[k].nodes.empty()) return partial_[k].nodes.back();
    if (!whole_[k].nodes.empty()) return whole_[k].nodes.back();
  }
  return -1;
}

}  // namespace loom::sched
