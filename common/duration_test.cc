#include "common/duration.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

TEST(DurationTest, SlurmForms) {
  EXPECT_EQ(*ParseDuration("90"), 90 * 60);
  EXPECT_EQ(*ParseDuration("05:30"), 330);
  EXPECT_EQ(*ParseDuration("2:00:00"), 7200);
  EXPECT_EQ(*ParseDuration("1-12"), 86400 + 12 * 3600);
  EXPECT_EQ(*ParseDuration("1-00:30"), 86400 + 1800);
  EXPECT_EQ(*ParseDuration("2-01:02:03"), 2 * 86400 + 3723);
}

TEST(DurationTest, SuffixForms) {
  EXPECT_EQ(*ParseDuration("2h"), 7200);
  EXPECT_EQ(*ParseDuration("45m"), 2700);
  EXPECT_EQ(*ParseDuration("90s"), 90);
  EXPECT_EQ(*ParseDuration("1d"), 86400);
  EXPECT_EQ(*ParseDuration("1h30m"), 5400);
}

TEST(DurationTest, GarbageIsRejectedWithTheAcceptedForms) {
  for (const char* bad : {"", "2x", "h", "1:2:3:4", "-5", "1-", "a:b", "1.5h", "12345678901m"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("HH:MM:SS"), std::string::npos);
  }
}

TEST(DurationTest, FormatsLikeSqueue) {
  EXPECT_EQ(FormatDuration(0), "0:00:00");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(2 * 86400 + 5), "2-00:00:05");
}

}  // namespace
}  // namespace loom
