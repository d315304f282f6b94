#include "common/progress.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

TEST(ProgressLine, CountsAndNames) {
  EXPECT_EQ(ProgressLine("gemm", 3, 12, "gpt4096.qkv.fwd", 80), "[3/12] gemm gpt4096.qkv.fwd");
  EXPECT_EQ(ProgressLine("sched", 1, 2, "", 80), "[1/2] sched");
}

TEST(ProgressLine, CutToTheTerminal) {
  EXPECT_EQ(ProgressLine("gemm", 3, 12, "gpt4096.qkv.fwd", 10), "[3/12] gem");
}

TEST(Progress, SilentOffATerminal) {
  // ctest's stderr is a pipe or file: nothing is drawn, and stepping is still safe.
  testing::internal::CaptureStderr();
  {
    Progress p("gemm", 2, /*wanted=*/true);
    p.Next("a");
    p.Next("b");
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace loom
