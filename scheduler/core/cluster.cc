#include "scheduler/core/cluster.h"

#include <algorithm>

namespace loom::sched {

int Cluster::LeafIndex(const std::map<std::string, std::string>& labels) {
  auto label = labels.find(kLeafLabel);
  const std::string name = label == labels.end() ? "" : label->second;
  auto [it, added] = leaf_by_name_.emplace(name, static_cast<int>(leaf_names_.size()));
  if (added) leaf_names_.push_back(name);
  return it->second;
}

StatusOr<NodeIndex> Cluster::UpsertNode(const std::string& name, int gpu_count,
                                        std::map<std::string, std::string> labels) {
  if (gpu_count < 0 || gpu_count > kMaxGpusPerNode) {
    return InvalidArgument("node " + name + ": GPU count " + std::to_string(gpu_count) +
                           " out of range 0.." + std::to_string(kMaxGpusPerNode));
  }
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    Node& node = nodes_[it->second];
    if (node.gpu_count != gpu_count) {
      if (!JobsOn(it->second).empty()) {
        return FailedPrecondition("node " + name + " changed from " +
                                  std::to_string(node.gpu_count) + " to " +
                                  std::to_string(gpu_count) + " GPUs while jobs hold some");
      }
      node.gpu_count = gpu_count;
      node.free = node.all();
    }
    leaf_of_[it->second] = LeafIndex(labels);
    node.labels = std::move(labels);
    return it->second;
  }
  Node node;
  node.name = name;
  node.gpu_count = gpu_count;
  node.free = node.all();
  leaf_of_.push_back(LeafIndex(labels));
  node.labels = std::move(labels);
  nodes_.push_back(std::move(node));
  jobs_on_.emplace_back();
  NodeIndex index = static_cast<NodeIndex>(nodes_.size() - 1);
  by_name_.emplace(name, index);
  return index;
}

std::optional<NodeIndex> Cluster::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

Status Cluster::Allocate(JobId job, const Allocation& allocation) {
  if (held_.count(job)) return FailedPrecondition("job " + std::to_string(job) + " already holds GPUs");
  for (const NodeGrant& g : allocation) {
    if (g.node < 0 || g.node >= size()) return InvalidArgument("grant names an unknown node");
    const Node& node = nodes_[g.node];
    if ((g.gpus & ~node.all()) != 0) {
      return InvalidArgument("grant names GPUs node " + node.name + " does not have");
    }
    GpuMask want = GrantMask(node, g);
    if ((node.free & want) != want) {
      return FailedPrecondition("GPUs of node " + node.name + " are already held");
    }
  }
  // Two grants on one node would pass the checks above independently; refuse that too. Sorted,
  // not compared pairwise: a 12,000-node gang would otherwise cost 72M comparisons.
  std::vector<NodeIndex> named;
  named.reserve(allocation.size());
  for (const NodeGrant& g : allocation) named.push_back(g.node);
  std::sort(named.begin(), named.end());
  if (auto twice = std::adjacent_find(named.begin(), named.end()); twice != named.end()) {
    return InvalidArgument("allocation names node " + nodes_[*twice].name + " twice");
  }
  for (const NodeGrant& g : allocation) {
    nodes_[g.node].free &= ~GrantMask(nodes_[g.node], g);
    std::vector<JobId>& on = jobs_on_[g.node];
    on.insert(std::upper_bound(on.begin(), on.end(), job), job);
  }
  held_.emplace(job, allocation);
  return Status::Ok();
}

void Cluster::Release(JobId job) {
  auto it = held_.find(job);
  if (it == held_.end()) return;
  for (const NodeGrant& g : it->second) {
    nodes_[g.node].free |= GrantMask(nodes_[g.node], g);
    std::erase(jobs_on_[g.node], job);
  }
  held_.erase(it);
}

const Allocation* Cluster::AllocationOf(JobId job) const {
  auto it = held_.find(job);
  return it == held_.end() ? nullptr : &it->second;
}

std::vector<JobId> Cluster::JobsOn(NodeIndex n) const {
  if (n < 0 || n >= size()) return {};
  return jobs_on_[n];
}

int Cluster::total_gpus() const {
  int total = 0;
  for (const Node& n : nodes_) total += n.gpu_count;
  return total;
}

int Cluster::up_gpus() const {
  int total = 0;
  for (const Node& n : nodes_) total += n.up ? n.gpu_count : 0;
  return total;
}

int Cluster::allocated_gpus() const {
  int total = 0;
  for (const auto& [job, allocation] : held_) {
    for (const NodeGrant& g : allocation) total += PopCount(g.gpus);
  }
  return total;
}

int Cluster::max_gpus_per_node() const {
  int best = 0;
  for (const Node& n : nodes_) best = std::max(best, n.gpu_count);
  return best;
}

}  // namespace loom::sched
