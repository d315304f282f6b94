// Clusters for loom-sim's tests, written as the cluster configs are.
#pragma once

#include <string>

#include "scheduler/config/cluster_config.h"

namespace loom::sim {

// `leaves` leaf switches of `nodes_per_leaf` 8-GPU H100 nodes.
inline sched::ClusterConfig TestCluster(int leaves, int nodes_per_leaf) {
  const std::string yaml = "name: test\nfabric: {link: IB, gbps_per_gpu: 400}\nleaves_per_spine: 16\n"
                           "leaf_groups:\n  - {count: " + std::to_string(leaves) +
                           ", nodes_per_leaf: " + std::to_string(nodes_per_leaf) +
                           ", gpus_per_node: 8, model: H100-SXM-80GB}\n";
  return *sched::ParseClusterConfig(yaml, "test.yaml");
}

}  // namespace loom::sim
