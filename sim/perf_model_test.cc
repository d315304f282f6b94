// The performance model against published figures: Llama 3 405B (Dubey et al. 2024, Table 4).
#include "sim/perf_model.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "sim/perf_inputs.h"

namespace loom::sim {
namespace {

// Llama 3 405B's pre-training setup: TP 8, PP 16, 16M-token batches (2,048 sequences of 8,192),
// on H100 nodes of 8 GPUs under leaves of 32 nodes, with the documented default inputs.
StepEstimate Llama3(int gpus) {
  const PerfInputs perf = DefaultPerfInputs();
  StepInputs in;
  in.model = *train::Preset("405B");
  in.batch_sequences = 2048;
  in.layout = {8, 16, gpus / 128, perf.virtual_stages};
  in.placement = PackedPlacement(in.layout, 8, 32);
  in.gpu = *perf.Gpu("H100-SXM-80GB");
  in.links = perf.links;
  auto e = EstimateStep(in);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return *e;
}

TEST(PerfModel, Llama3On8kAnd16kH100MatchesThePublishedThroughput) {
  const StepEstimate at8k = Llama3(8192), at16k = Llama3(16384);
  std::printf("8,192 GPUs: %.0f TFLOP/s (step %.2f s, bubble %.2f s, DP exposed %.2f s)\n",
              at8k.tflops_per_gpu, at8k.step_s, at8k.bubble_s, at8k.dp_exposed_s);
  std::printf("16,384 GPUs: %.0f TFLOP/s (step %.2f s, bubble %.2f s, DP exposed %.2f s)\n",
              at16k.tflops_per_gpu, at16k.step_s, at16k.bubble_s, at16k.dp_exposed_s);
  EXPECT_NEAR(at8k.tflops_per_gpu, 430, 43);   // published: 430 TFLOP/s per GPU
  EXPECT_NEAR(at16k.tflops_per_gpu, 400, 40);  // published: 400
  const double drop = 1 - at16k.tflops_per_gpu / at8k.tflops_per_gpu;
  EXPECT_GE(drop, 0.04);  // published: 7%
  EXPECT_LE(drop, 0.10);
  EXPECT_DOUBLE_EQ(at8k.micro_batches, 32);
  EXPECT_DOUBLE_EQ(at16k.micro_batches, 16);
}

TEST(PerfModel, BubbleIsPlainOneFOneBWithOneVirtualStage) {
  const PerfInputs perf = DefaultPerfInputs();
  StepInputs in;
  in.model = *train::Preset("7B");
  in.batch_sequences = 8;
  in.layout = {1, 4, 1, 1};
  in.placement = {LinkLevel::kNvlink, LinkLevel::kNvlink, LinkLevel::kNvlink};
  in.gpu = *perf.Gpu("H100-SXM-80GB");
  in.links = perf.links;
  const StepEstimate e = *EstimateStep(in);
  // (p−1)/(m+p−1) of the pipeline's time: 3/11.
  EXPECT_NEAR(e.bubble_s / (e.step_s - e.dp_exposed_s), 3.0 / 11, 1e-9);
  in.layout.virtual_stages = 4;  // interleaving: 3/(4·8+3)
  const StepEstimate v4 = *EstimateStep(in);
  EXPECT_NEAR(v4.bubble_s / (v4.step_s - v4.dp_exposed_s), 3.0 / 35, 1e-9);
}

TEST(PerfModel, WiderPlacementsGetSlowerLinks) {
  PerfInputs perf = DefaultPerfInputs();
  perf.links.spine = {100e-6, 23};  // an oversubscribed spine
  StepInputs in;
  in.model = *train::Preset("70B");
  in.batch_sequences = 512;
  in.layout = {8, 1, 64, 1};
  in.gpu = *perf.Gpu("H100-SXM-80GB");
  in.links = perf.links;
  in.placement = PackedPlacement(in.layout, 8, 64);  // 64 nodes: one leaf
  EXPECT_EQ(in.placement.dp, LinkLevel::kLeaf);
  const double one_leaf = EstimateStep(in)->step_s;
  in.placement = PackedPlacement(in.layout, 8, 32);  // two leaves: the spine
  EXPECT_EQ(in.placement.dp, LinkLevel::kSpine);
  EXPECT_EQ(in.placement.tp, LinkLevel::kNvlink);
  EXPECT_GT(EstimateStep(in)->step_s, one_leaf);
}

TEST(PerfModel, RefusesLayoutsThatDoNotFit) {
  const PerfInputs perf = DefaultPerfInputs();
  StepInputs in;
  in.model = *train::Preset("405B");
  in.batch_sequences = 16;
  in.layout = {8, 16, 64, 1};  // 16 sequences over 64 DP ranks
  in.gpu = *perf.Gpu("H100-SXM-80GB");
  in.links = perf.links;
  EXPECT_EQ(EstimateStep(in).status().code(), StatusCode::kInvalidArgument);
  in.batch_sequences = 2048;
  in.layout.virtual_stages = 9;  // 16 × 8 chunks would leave stages empty
  EXPECT_EQ(EstimateStep(in).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(perf.Gpu("B300").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace loom::sim
