// The cluster model: nodes, their GPUs and which GPUs are held by which job. Allocation
// bookkeeping only; choosing GPUs is a placement policy's job (scheduler/policies).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "scheduler/core/types.h"

namespace loom::sched {

struct Node {
  std::string name;
  int gpu_count = 0;
  std::map<std::string, std::string> labels;  // topology: rack, leaf, spine
  bool up = true;
  GpuMask free = 0;  // GPUs no job holds; a node held whole by a multi-node job has free == 0

  GpuMask all() const { return LowBits(gpu_count); }
  bool whole_free() const { return free == all(); }
  int free_count() const { return PopCount(free); }
};

// What a grant takes from its node's free mask: every GPU for an exclusive grant.
inline GpuMask GrantMask(const Node& node, const NodeGrant& g) {
  return g.exclusive ? node.all() : g.gpus;
}

// The label that names a node's leaf switch (scalable unit) and its spine. Nodes without a leaf
// label share one unnamed leaf.
inline constexpr char kLeafLabel[] = "leaf";
inline constexpr char kSpineLabel[] = "spine";

class Cluster {
 public:
  // Adds a node, or updates the GPU count and labels of a known one. A node whose GPUs are held
  // cannot change its GPU count (the worker came back with different hardware): refused.
  StatusOr<NodeIndex> UpsertNode(const std::string& name, int gpu_count,
                                 std::map<std::string, std::string> labels);
  std::optional<NodeIndex> Find(const std::string& name) const;
  void SetUp(NodeIndex n, bool up) { nodes_[n].up = up; }

  const Node& node(NodeIndex n) const { return nodes_[n]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::vector<Node>& nodes() const { return nodes_; }

  // Holds the granted GPUs for `job`. Fails, changing nothing, if any GPU is already held or the
  // job already holds GPUs. An exclusive grant (multi-node jobs take whole nodes) holds every GPU
  // of its node, even those the job does not use.
  Status Allocate(JobId job, const Allocation& allocation);
  // Frees whatever `job` holds; a job holding nothing is a no-op (release is idempotent).
  void Release(JobId job);
  const Allocation* AllocationOf(JobId job) const;
  // The jobs holding GPUs of node `n`, by id. From an index kept by Allocate and Release, not a
  // scan of every allocation: each heartbeat asks this for its node, 18,750 times a second at the
  // seeds' scale with a thousand jobs running.
  std::vector<JobId> JobsOn(NodeIndex n) const;

  // Leaf switches, numbered densely in the order nodes first named them, so policies index
  // arrays by leaf instead of hashing label strings in every pass.
  int leaf_of(NodeIndex n) const { return leaf_of_[n]; }
  int leaf_count() const { return static_cast<int>(leaf_names_.size()); }
  const std::string& leaf_name(int leaf) const { return leaf_names_[leaf]; }

  int total_gpus() const;
  int up_gpus() const;
  int allocated_gpus() const;
  int max_gpus_per_node() const;

 private:
  std::vector<Node> nodes_;
  int LeafIndex(const std::map<std::string, std::string>& labels);

  std::unordered_map<std::string, NodeIndex> by_name_;
  std::vector<int> leaf_of_;
  std::vector<std::string> leaf_names_;
  std::unordered_map<std::string, int> leaf_by_name_;
  std::unordered_map<JobId, Allocation> held_;
  std::vector<std::vector<JobId>> jobs_on_;  // per node, sorted: the jobs held_ grants it
};

}  // namespace loom::sched
