#include "scheduler/config/cluster_config.h"

#include <gtest/gtest.h>

namespace loom::sched {
namespace {

std::string Dir() {
  return LOOM_CLUSTER_CONFIG_DIR;
}

std::string ErrorOf(const std::string& yaml) {
  auto config = ParseClusterConfig(yaml, "bad.yaml");
  return config.ok() ? "" : config.status().message();
}

TEST(ClusterConfigTest, ShippedConfigsHaveTheirSizes) {
  struct Expected {
    const char* file;
    int nodes, gpus, leaves;
  };
  for (const Expected& e :
       {Expected{"ci.yaml", 3, 12, 1}, Expected{"mai-15k.yaml", 1875, 15000, 59},
        Expected{"frontier-96k.yaml", 12000, 96000, 375},
        Expected{"frontier-150k.yaml", 18750, 150000, 586}}) {
    auto config = LoadClusterConfig(Dir() + "/" + e.file);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(static_cast<int>(config->nodes.size()), e.nodes) << e.file;
    EXPECT_EQ(config->total_gpus(), e.gpus) << e.file;
    EXPECT_EQ(config->leaf_count(), e.leaves) << e.file;
  }
}

TEST(ClusterConfigTest, BuildsALabelledCluster) {
  auto config = LoadClusterConfig(Dir() + "/mai-15k.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->fabric_gbps_per_gpu, 400);
  const GpuModel* h100 = config->FindModel("H100-SXM-80GB");
  ASSERT_NE(h100, nullptr);
  EXPECT_EQ(h100->dense_bf16_tflops, 989);
  Cluster cluster;
  ASSERT_TRUE(PopulateCluster(*config, &cluster).ok());
  EXPECT_EQ(cluster.total_gpus(), 15000);
  EXPECT_EQ(cluster.leaf_count(), 59);
  const Node& last = cluster.node(cluster.size() - 1);
  EXPECT_EQ(last.labels.at(kLeafLabel), "leaf-0058");
  EXPECT_EQ(last.labels.at(kSpineLabel), "spine-003");
  const NodeSpec* spec = config->FindNode(last.name);
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->leaf, "leaf-0058");
}

TEST(ClusterConfigTest, ErrorsNameTheFileAndTheField) {
  const std::string fabric = "fabric: {link: ib, gbps_per_gpu: 400}\n";
  const std::string group = "leaf_groups: [{count: 2, nodes_per_leaf: 4, gpus_per_node: 8, ";
  EXPECT_EQ(ErrorOf("name: x\n" + fabric + "leaves_per_spine: 2\n" + group + "model: B200}]"),
            "bad.yaml: leaf_groups[0].model: unknown GPU model 'B200'");
  EXPECT_EQ(ErrorOf("name: x\n" + fabric + "leaves_per_spine: 2\n" + group +
                    "model: H100-SXM-80GB, colour: red}]"),
            "bad.yaml: leaf_groups[0]: unknown field 'colour'");
  EXPECT_EQ(ErrorOf("name: x\n" + fabric + "leaves_per_spine: 2\n" +
                    "leaf_groups: [{count: -1, nodes_per_leaf: 4, gpus_per_node: 8, "
                    "model: H100-SXM-80GB}]"),
            "bad.yaml: leaf_groups[0].count: must be positive");
  EXPECT_EQ(ErrorOf("name: x\n" + fabric + group + "model: H100-SXM-80GB}]"),
            "bad.yaml: leaves_per_spine: missing (leaf_groups need it)");
  EXPECT_EQ(ErrorOf("name: x\nfabric: {link: ib, gbps_per_gpu: fast}\n"),
            "bad.yaml: fabric.gbps_per_gpu: 'fast' is not a valid value");
  EXPECT_EQ(ErrorOf("name: x\n" + fabric + "nodez: []\n"), "bad.yaml: unknown field 'nodez'");
  // A key that is not a plain name (YAML's "? " complex key) is an error, not a crash.
  EXPECT_EQ(ErrorOf("? [a, b]\n: 1\nname: x\n" + fabric), "bad.yaml: a key must be a plain name, not '[a, b]'");
  EXPECT_EQ(ErrorOf("name: x\n" + fabric), "bad.yaml: nodes: none (give nodes or leaf_groups)");
  EXPECT_EQ(ErrorOf("name: x\n" + fabric +
                    "nodes: [{name: a, gpus: 4, model: A100-SXM-80GB, leaf: l, spine: s},\n"
                    "        {name: a, gpus: 4, model: A100-SXM-80GB, leaf: l, spine: s}]"),
            "bad.yaml: nodes: node 'a' named twice");
  EXPECT_NE(ErrorOf("name: [unclosed\n").find("bad.yaml: line "), std::string::npos);
  auto missing = LoadClusterConfig("/nonexistent/x.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace loom::sched
