#include "worker/peak.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace loom::worker {
namespace {

TEST(EmulatedPeakTest, CalibratesOnTheGpusShareOfTheCores) {
  const std::string lock = "/tmp/loom-peak-test-" + std::to_string(getpid()) + ".lock";
  EXPECT_EQ(EmulatedGpuCores(1 << 20), 1);  // at least one core each
  EXPECT_GE(EmulatedGpuCores(1), EmulatedGpuCores(2));
  auto one = EmulatedPeakTflops(1, lock);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_GT(*one, 0.0);
  EXPECT_LT(*one, 1000.0);  // a CPU, not a GPU
  EXPECT_EQ(EmulatedPeakTflops(0, lock).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EmulatedPeakTflops(1, "/nonexistent-dir/x.lock").status().code(), StatusCode::kInternal);
  unlink(lock.c_str());
}

}  // namespace
}  // namespace loom::worker
