// Small builders the scheduler tests share: clusters of leaves of identical nodes, and requests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "scheduler/core/cluster.h"

namespace loom::sched::testing {

// `leaves` leaf switches of `nodes_per_leaf` nodes of `gpus` GPUs; node i is "n<i>", under leaf
// "l<i / nodes_per_leaf>".
inline Cluster MakeCluster(int leaves, int nodes_per_leaf, int gpus) {
  Cluster c;
  for (int i = 0; i < leaves * nodes_per_leaf; ++i) {
    EXPECT_TRUE(c.UpsertNode("n" + std::to_string(i), gpus,
                             {{kLeafLabel, "l" + std::to_string(i / nodes_per_leaf)}})
                    .ok());
  }
  return c;
}

inline JobRequest Req(int gpus, int per_node, int priority = 0) {
  JobRequest r;
  r.gpus = gpus;
  r.gpus_per_node = per_node;
  r.priority = priority;
  return r;
}

}  // namespace loom::sched::testing
