#include "kernels/train/train_step.h"

#include <gtest/gtest.h>

#include <cmath>

namespace loom::train {
namespace {

ModelShape Tiny() { return {"tiny", 2, 64, 4, 32, 256, 2}; }

TEST(TrainPlanTest, FlopsEqualSixNPlusAttentionPerToken) {
  for (const ModelShape& s : {Tiny(), ModelShape{"odd", 3, 96, 3, 48, 500, 3}}) {
    const double tokens = static_cast<double>(s.tokens_per_rank());
    const double six_n = 6.0 * static_cast<double>(ParameterCount(s)) * tokens;
    const double attention = 12.0 * s.layers * s.hidden * s.seq_len * tokens;
    EXPECT_DOUBLE_EQ(PlannedFlopsPerRank(s), six_n + attention) << s.name;
    EXPECT_DOUBLE_EQ(PlannedFlopsPerRank(s), ModelFlopsPerStep(s, 1)) << s.name;
  }
}

TEST(TrainPlanTest, WeightGemmsUseForwardNtAndTnShapes) {
  const ModelShape s = Tiny();
  const StepGemms g = PlanStepGemms(s);
  EXPECT_EQ(g.mlp_up.forward.n, 4 * s.hidden);
  EXPECT_EQ(g.mlp_up.dgrad.op_b, gemm::Op::kT);
  EXPECT_EQ(g.mlp_up.wgrad.op_a, gemm::Op::kT);
  EXPECT_EQ(g.mlp_up.wgrad.k, s.tokens_per_rank());
  EXPECT_EQ(g.scores.batch, s.micro_batch * s.heads);
}

TEST(TrainerTest, SingleRankStepIssuesThePlannedFlops) {
  auto trainer = Trainer::Create(Tiny(), {.optimizer = Optimizer::kSgd}, nullptr);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  for (int i = 0; i < 2; ++i) {
    auto stats = (*trainer)->Step();
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_DOUBLE_EQ(stats->issued_flops, PlannedFlopsPerRank(Tiny()));
    EXPECT_GT(stats->compute_s, 0.0);
    EXPECT_LE(stats->compute_s, stats->step_s);
    EXPECT_EQ(stats->buckets, 0);  // nothing to reduce with one rank
  }
  double norm = 0;
  for (float g : (*trainer)->gradients()) norm += static_cast<double>(g) * g;
  EXPECT_GT(norm, 0.0);
  EXPECT_TRUE(std::isfinite(norm));
}

TEST(TrainerTest, RejectsBadOptions) {
  EXPECT_FALSE(Trainer::Create(Tiny(), {.bucket_bytes = -1}, nullptr).ok());
  EXPECT_FALSE(Trainer::Create(Tiny(), {.gemm_backend = gemm::Backend::kLoom}, nullptr).ok());
  ModelShape bad = Tiny();
  bad.heads = 5;
  EXPECT_FALSE(Trainer::Create(bad, {}, nullptr).ok());
}

TEST(TrainBusBandwidthTest, FollowsNcclTestsDefinition) {
  EXPECT_DOUBLE_EQ(AllReduceBusBandwidth(1000, 2, 1.0), 1000.0);
  EXPECT_DOUBLE_EQ(AllReduceBusBandwidth(1000, 4, 0.5), 3000.0);
  EXPECT_DOUBLE_EQ(AllReduceBusBandwidth(1000, 1, 1.0), 0.0);
}

}  // namespace
}  // namespace loom::train
