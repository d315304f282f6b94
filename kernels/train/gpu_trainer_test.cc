// The GPU step against the CPU step: same model, init and data, one step, gradients compared.
// Needs a CUDA device; each test skips saying "no CUDA device: ..." without one.
#include "kernels/train/gpu_trainer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace loom::train {
namespace {

ModelShape Tiny() { return {"tiny", 2, 64, 4, 32, 256, 2}; }

// Skips the calling test unless a device is present.
#define LOOM_REQUIRE_DEVICE()                                                \
  do {                                                                       \
    auto info_ = CurrentDeviceInfo();                                        \
    if (!info_.ok()) GTEST_SKIP() << info_.status().message();               \
  } while (0)

double RelativeL2(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    ref += double(want[i]) * want[i];
  }
  return std::sqrt(diff / ref);
}

TEST(GpuTrainerTest, WithoutADeviceCreateSaysSo) {
  if (CurrentDeviceInfo().ok()) GTEST_SKIP() << "a CUDA device is present";
  auto streams = DeviceStreams::Create();
  if (streams.ok()) {
    auto t = GpuTrainer::Create(Tiny(), {.gemm_backend = gemm::Backend::kLoom}, nullptr,
                                streams->get());
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("no CUDA device"), std::string::npos);
  }
  EXPECT_NE(CurrentDeviceInfo().status().message().find("no CUDA device"), std::string::npos);
}

class GpuVsCpuTest : public ::testing::TestWithParam<gemm::Backend> {};

TEST_P(GpuVsCpuTest, OneStepMatchesTheCpuStep) {
  LOOM_REQUIRE_DEVICE();
  const ModelShape s = Tiny();
  const TrainOptions cpu_options{.optimizer = Optimizer::kSgd};
  auto cpu = Trainer::Create(s, cpu_options, nullptr);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  ASSERT_TRUE((*cpu)->Step().ok());

  auto streams = DeviceStreams::Create();
  ASSERT_TRUE(streams.ok()) << streams.status().ToString();
  TrainOptions gpu_options = cpu_options;
  gpu_options.gemm_backend = GetParam();
  auto gpu = GpuTrainer::Create(s, gpu_options, nullptr, streams->get());
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  auto stats = (*gpu)->Step();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_DOUBLE_EQ(stats->issued_flops, PlannedFlopsPerRank(s));
  EXPECT_GT(stats->compute_s, 0.0);
  EXPECT_EQ(stats->buckets, 0);

  auto grads = (*gpu)->Gradients();
  ASSERT_TRUE(grads.ok()) << grads.status().ToString();
  const std::vector<float>& want = (*cpu)->gradients();
  ASSERT_EQ(grads->size(), want.size());
  for (float g : *grads) ASSERT_TRUE(std::isfinite(g));
  // bf16 operands and activations on both sides, rounded in different places: 1e-2 is the
  // bf16 band (docs/GPU.md); an indexing error is O(1).
  EXPECT_LT(RelativeL2(*grads, want), 2e-2);
  // A second step runs from the updated weights and stays finite.
  ASSERT_TRUE((*gpu)->Step().ok());
  auto again = (*gpu)->Gradients();
  ASSERT_TRUE(again.ok());
  for (float g : *again) ASSERT_TRUE(std::isfinite(g));
}

INSTANTIATE_TEST_SUITE_P(Backends, GpuVsCpuTest,
                         ::testing::Values(gemm::Backend::kLoom, gemm::Backend::kCublas),
                         [](const auto& info) { return std::string(gemm::BackendName(info.param)); });

TEST(GpuTrainerTest, RefusesAModelThatCannotFit) {
  LOOM_REQUIRE_DEVICE();
  auto s = Preset("70B");
  ASSERT_TRUE(s.ok());
  auto streams = DeviceStreams::Create();
  ASSERT_TRUE(streams.ok());
  auto t = GpuTrainer::Create(*s, {.gemm_backend = gemm::Backend::kCublas}, nullptr, streams->get());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kResourceExhausted) << t.status().ToString();
}

TEST(GpuTrainerTest, RejectsTheCpuBackend) {
  auto streams = DeviceStreams::Create();
  if (!streams.ok()) GTEST_SKIP() << "no CUDA device: " << streams.status().message();
  EXPECT_EQ(GpuTrainer::Create(Tiny(), {}, nullptr, streams->get()).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loom::train
