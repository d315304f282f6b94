// Cluster configs (cluster-configs/*.yaml): GPU models, nodes and their network tree
// (node -> leaf switch / scalable unit -> spine), and the per-GPU fabric bandwidth.
// Loading is pure apart from reading the one file: no globals, errors as Status. Every error is
// one line naming the file and the field ("mai-15k.yaml: leaf_groups[0].count: ..."), and unknown
// fields are refused so a typo cannot silently change a cluster.
//
// Large clusters are generated, not listed: a leaf group is `count` leaf switches of
// `nodes_per_leaf` nodes each, and leaves are grouped under spines `leaves_per_spine` at a time.
// Small ones (ci) may list nodes by name, so workers find their labels by their node name.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "scheduler/core/cluster.h"

namespace loom::sched {

struct GpuModel {
  std::string name;
  double dense_bf16_tflops = 0;
  double memory_gib = 0;
  double nvlink_gbytes_per_s = 0;  // per GPU, one direction
};

// The models of common/gpu_models.h; a config's gpu_models may add more.
const std::vector<GpuModel>& BuiltinGpuModels();

struct NodeSpec {
  std::string name;
  int gpus = 0;
  std::string model;
  std::string leaf;
  std::string spine;
};

struct ClusterConfig {
  std::string name;
  std::string fabric;              // e.g. "InfiniBand NDR"
  double fabric_gbps_per_gpu = 0;  // per GPU NIC, Gb/s
  std::vector<GpuModel> models;    // the built-in ones, then the config's
  std::vector<NodeSpec> nodes;

  int total_gpus() const;
  int leaf_count() const;
  const GpuModel* FindModel(const std::string& name) const;
  // A worker started with --cluster-config takes its labels from its node's entry.
  const NodeSpec* FindNode(const std::string& name) const;
};

// `source` names the text in errors (the file name).
StatusOr<ClusterConfig> ParseClusterConfig(const std::string& yaml, const std::string& source);
StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path);

// The topology labels a node gets: leaf, spine and model.
std::map<std::string, std::string> NodeLabels(const NodeSpec& node);
// Adds every node of `config` to `cluster`, labelled.
Status PopulateCluster(const ClusterConfig& config, Cluster* cluster);

}  // namespace loom::sched
