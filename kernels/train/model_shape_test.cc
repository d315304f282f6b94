#include "kernels/train/model_shape.h"

#include <gtest/gtest.h>

namespace loom::train {
namespace {

TEST(ModelShapeTest, ParameterCountsOfThePresets) {
  // 12·L·h² + V·h, by hand.
  EXPECT_EQ(ParameterCount(*Preset("125M")), 12LL * 12 * 768 * 768 + 50304LL * 768);        // 123.6M
  EXPECT_EQ(ParameterCount(*Preset("1.3B")), 12LL * 24 * 2048 * 2048 + 50304LL * 2048);     // 1.31B
  EXPECT_EQ(ParameterCount(*Preset("7B")), 12LL * 32 * 4096 * 4096 + 50304LL * 4096);       // 6.65B
  EXPECT_EQ(ParameterCount(*Preset("70B")), 12LL * 80 * 8192 * 8192 + 50304LL * 8192);      // 64.8B
}

TEST(ModelShapeTest, FlopsFollowPalmIncludingTheAttentionTerm) {
  ModelShape tiny{"tiny", 2, 64, 4, 128, 1000, 3};
  const double n = 2 * 12 * 64 * 64 + 1000 * 64;  // 162,304
  EXPECT_DOUBLE_EQ(ModelFlopsPerToken(tiny), 6 * n + 12.0 * 2 * 64 * 128);
  // Per step: tokens = micro-batch · T per rank, times ranks.
  EXPECT_DOUBLE_EQ(ModelFlopsPerStep(tiny, 4), ModelFlopsPerToken(tiny) * 3 * 128 * 4);
  // 7B at T = 4096: the attention term is 12·32·4096·4096 = 6.442 GFLOP/token beside 6N = 39.891.
  ModelShape seven = *Preset("7B");
  EXPECT_NEAR(ModelFlopsPerToken(seven) / 1e9, 39.891 + 6.442, 0.001);
}

TEST(ModelShapeTest, MfuIsModelFlopsOverHeldPeak) {
  // 1e15 model FLOPs in 2 s on 4 GPUs of 989 TFLOP/s: 1e15 / (2·4·989e12) = 0.1264
  EXPECT_NEAR(Mfu(1e15, 2.0, 4, 989e12), 0.12639, 1e-5);
  EXPECT_EQ(Mfu(1e15, 0, 4, 989e12), 0);
}

TEST(ModelShapeTest, MemoryCheckRefusesModelsThatDoNotFit) {
  const int64_t h100 = 80LL << 30;
  EXPECT_TRUE(CheckFits(*Preset("1.3B"), h100).ok());
  Status s = CheckFits(*Preset("70B"), h100);  // 16 bytes × 64.8B parameters alone is ~1 TB
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("needs"), std::string::npos);
  // Activations by hand for the tiny shape: s·b·h·(34 + 5·a·s/h) per layer.
  ModelShape tiny{"tiny", 2, 64, 4, 128, 1000, 3};
  const double act = 128.0 * 3 * 64 * (34 + 5.0 * 4 * 128 / 64) * 2;
  EXPECT_EQ(TrainingBytesPerGpu(tiny), 16 * ParameterCount(tiny) + static_cast<int64_t>(act));
}

TEST(ModelShapeTest, InvalidShapesAndPresetsAreRefused) {
  EXPECT_EQ(Preset("13B").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Validate({"x", 2, 100, 3, 16, 10, 1}).code(), StatusCode::kInvalidArgument);  // 100 % 3
  EXPECT_EQ(Validate({"x", 0, 64, 4, 16, 10, 1}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loom::train
