#include "cli/sparkline.h"

#include <gtest/gtest.h>

namespace loom::cli {
namespace {

TEST(SparklineTest, ScalesToTheLargestValueByDefault) {
  EXPECT_EQ(Sparkline({}), "");
  EXPECT_EQ(Sparkline({0, 0.5, 1}), "▁▅█");
  EXPECT_EQ(Sparkline({0.1, 0.4}), "▃█");
  EXPECT_EQ(Sparkline({0, 0}), "▁▁");
}

TEST(SparklineTest, ClampsToAGivenTop) {
  EXPECT_EQ(Sparkline({0.25, 0.5, 2, -1}, 1), "▃▅█▁");
}

}  // namespace
}  // namespace loom::cli
