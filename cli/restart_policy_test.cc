#include "cli/restart_policy.h"

#include <gtest/gtest.h>

namespace loom::cli {
namespace {

TEST(RestartPolicyTest, BacksOffOnQuickDeathsAndGivesUpOnACrashLoop) {
  RestartHistory h{0, 0};
  int64_t now = 100;
  const int64_t expected[] = {1000, 2000, 4000, 8000, 16000};
  for (int64_t delay : expected) {
    RestartDecision d = OnProcessDeath(h, now);
    EXPECT_TRUE(d.restart);
    EXPECT_EQ(d.delay_ms, delay);
    h.started_ms = now + d.delay_ms;  // restarted, and died again soon
    now = h.started_ms + 500;
  }
  EXPECT_FALSE(OnProcessDeath(h, now).restart);  // the sixth quick death: a crash loop
}

TEST(RestartPolicyTest, AStableRunStartsAfresh) {
  RestartHistory h{4, 0};
  RestartDecision d = OnProcessDeath(h, kStableMs + 1);
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.delay_ms, kMinRestartDelayMs);
  EXPECT_EQ(h.quick_deaths, 1);
}

}  // namespace
}  // namespace loom::cli
