#include "scheduler/config/cluster_config.h"

#include <set>
#include <sstream>

#include "common/gpu_models.h"
#include "scheduler/config/yaml_fields.h"

namespace loom::sched {
namespace {

using config::Fields;
using config::ForEachItem;

Status ReadModel(Fields& f, ClusterConfig* config) {
  GpuModel m;
  LOOM_RETURN_IF_ERROR(f.Read("name", &m.name));
  LOOM_RETURN_IF_ERROR(f.Read("dense_bf16_tflops", &m.dense_bf16_tflops));
  LOOM_RETURN_IF_ERROR(f.Read("memory_gib", &m.memory_gib));
  LOOM_RETURN_IF_ERROR(f.Read("nvlink_gbytes_per_s", &m.nvlink_gbytes_per_s));
  if (m.dense_bf16_tflops <= 0 || m.memory_gib <= 0) {
    return InvalidArgument(f.Where("name") + ": " + m.name + " needs positive TFLOP/s and memory");
  }
  if (config->FindModel(m.name))
    return InvalidArgument(f.Where("name") + ": " + m.name + " defined twice");
  config->models.push_back(m);
  return Status::Ok();
}

// What a node or a leaf group says about its hardware.
Status ReadHardware(Fields& f, const ClusterConfig& config, int* gpus, std::string* model,
                    const std::string& gpus_key) {
  LOOM_RETURN_IF_ERROR(f.Positive(gpus_key, gpus));
  if (*gpus > kMaxGpusPerNode) {
    return InvalidArgument(f.Where(gpus_key) + ": at most " + std::to_string(kMaxGpusPerNode));
  }
  LOOM_RETURN_IF_ERROR(f.Read("model", model));
  if (!config.FindModel(*model)) {
    return InvalidArgument(f.Where("model") + ": unknown GPU model '" + *model + "'");
  }
  return Status::Ok();
}

std::string Numbered(const char* prefix, int i, int width) {
  std::ostringstream out;
  out << prefix;
  out.width(width);
  out.fill('0');
  out << i;
  return out.str();
}

}  // namespace

const std::vector<GpuModel>& BuiltinGpuModels() {
  // The catalog every part of Loom shares (common/gpu_models.h), in this loader's units.
  static const auto* models = [] {
    auto* out = new std::vector<GpuModel>;
    for (const loom::GpuModel& m : loom::GpuModels()) {
      out->push_back({std::string(m.name), m.bf16_dense_tflops,
                      static_cast<double>(m.memory_bytes) / (1LL << 30), m.nvlink_gbps});
    }
    return out;
  }();
  return *models;
}

int ClusterConfig::total_gpus() const {
  int total = 0;
  for (const NodeSpec& n : nodes) total += n.gpus;
  return total;
}

int ClusterConfig::leaf_count() const {
  std::set<std::string> leaves;
  for (const NodeSpec& n : nodes) leaves.insert(n.leaf);
  return static_cast<int>(leaves.size());
}

const GpuModel* ClusterConfig::FindModel(const std::string& name) const {
  for (const GpuModel& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const NodeSpec* ClusterConfig::FindNode(const std::string& name) const {
  for (const NodeSpec& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

StatusOr<ClusterConfig> ParseClusterConfig(const std::string& yaml, const std::string& source) {
  LOOM_ASSIGN_OR_RETURN(YAML::Node root, config::LoadYaml(yaml, source));
  Fields top(root, source, "");
  LOOM_RETURN_IF_ERROR(top.Check());
  ClusterConfig config;
  config.models = BuiltinGpuModels();
  LOOM_RETURN_IF_ERROR(top.Read("name", &config.name));

  Fields fabric = top.Child("fabric");
  LOOM_RETURN_IF_ERROR(fabric.Check());
  LOOM_RETURN_IF_ERROR(fabric.Read("link", &config.fabric));
  LOOM_RETURN_IF_ERROR(fabric.Read("gbps_per_gpu", &config.fabric_gbps_per_gpu));
  if (config.fabric_gbps_per_gpu <= 0) {
    return InvalidArgument(fabric.Where("gbps_per_gpu") + ": must be positive");
  }
  LOOM_RETURN_IF_ERROR(fabric.Finish());

  LOOM_RETURN_IF_ERROR(
      ForEachItem(top, "gpu_models", [&](Fields& f) { return ReadModel(f, &config); }));
  int leaves_per_spine = 0;
  LOOM_RETURN_IF_ERROR(top.Read("leaves_per_spine", &leaves_per_spine, /*required=*/false));
  if (top.Has("leaves_per_spine") && leaves_per_spine <= 0) {
    return InvalidArgument(top.Where("leaves_per_spine") + ": must be positive");
  }

  LOOM_RETURN_IF_ERROR(ForEachItem(top, "nodes", [&](Fields& f) {
    NodeSpec n;
    LOOM_RETURN_IF_ERROR(f.Read("name", &n.name));
    LOOM_RETURN_IF_ERROR(ReadHardware(f, config, &n.gpus, &n.model, "gpus"));
    LOOM_RETURN_IF_ERROR(f.Read("leaf", &n.leaf));
    LOOM_RETURN_IF_ERROR(f.Read("spine", &n.spine));
    config.nodes.push_back(std::move(n));
    return Status::Ok();
  }));

  int leaf_index = 0;
  LOOM_RETURN_IF_ERROR(ForEachItem(top, "leaf_groups", [&](Fields& f) {
    int count = 0, nodes_per_leaf = 0, gpus = 0;
    std::string model;
    LOOM_RETURN_IF_ERROR(f.Positive("count", &count));
    LOOM_RETURN_IF_ERROR(f.Positive("nodes_per_leaf", &nodes_per_leaf));
    LOOM_RETURN_IF_ERROR(ReadHardware(f, config, &gpus, &model, "gpus_per_node"));
    if (!top.Has("leaves_per_spine")) {
      return InvalidArgument(top.Where("leaves_per_spine") + ": missing (leaf_groups need it)");
    }
    for (int l = 0; l < count; ++l, ++leaf_index) {
      const std::string leaf = Numbered("leaf-", leaf_index, 4);
      const std::string spine = Numbered("spine-", leaf_index / leaves_per_spine, 3);
      for (int i = 0; i < nodes_per_leaf; ++i) {
        config.nodes.push_back({leaf + "-n" + Numbered("", i, 2), gpus, model, leaf, spine});
      }
    }
    return Status::Ok();
  }));
  LOOM_RETURN_IF_ERROR(top.Finish());

  if (config.nodes.empty()) {
    return InvalidArgument(source + ": nodes: none (give nodes or leaf_groups)");
  }
  std::set<std::string> names;
  for (const NodeSpec& n : config.nodes) {
    if (!names.insert(n.name).second) {
      return InvalidArgument(source + ": nodes: node '" + n.name + "' named twice");
    }
  }
  return config;
}

StatusOr<ClusterConfig> LoadClusterConfig(const std::string& path) {
  LOOM_ASSIGN_OR_RETURN(config::ConfigText file, config::ReadConfigFile(path, "the cluster config"));
  return ParseClusterConfig(file.text, file.source);
}

std::map<std::string, std::string> NodeLabels(const NodeSpec& node) {
  return {{kLeafLabel, node.leaf}, {kSpineLabel, node.spine}, {"model", node.model}};
}

Status PopulateCluster(const ClusterConfig& config, Cluster* cluster) {
  for (const NodeSpec& n : config.nodes) {
    LOOM_RETURN_IF_ERROR(cluster->UpsertNode(n.name, n.gpus, NodeLabels(n)).status());
  }
  return Status::Ok();
}

}  // namespace loom::sched
