#include "scheduler/service/worker_dispatch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>

namespace loom {
namespace {

TEST(PooledDispatcherTest, EachKeysTasksRunInOrderAndAllRunBeforeTheDestructorReturns) {
  std::mutex mu;
  std::map<std::string, std::vector<int>> seen;
  {
    PooledDispatcher d(4);
    for (int i = 0; i < 200; ++i) {
      const std::string key = "n" + std::to_string(i % 5);
      d.Post(key, [&, key, i] {
        std::lock_guard<std::mutex> lock(mu);
        seen[key].push_back(i);
      });
    }
  }
  ASSERT_EQ(seen.size(), 5u);
  for (const auto& [key, order] : seen) {
    ASSERT_EQ(order.size(), 40u) << key;
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << key;
  }
}

// A task that blocks (a call to a hung worker) holds up its own key only.
TEST(PooledDispatcherTest, ABlockedKeyDoesNotHoldUpTheOthers) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> other_ran;
  std::atomic<bool> behind_ran{false};
  PooledDispatcher d(2);
  d.Post("hung", [released] { released.wait(); });
  d.Post("hung", [&] { behind_ran = true; });
  d.Post("fine", [&] { other_ran.set_value(); });
  other_ran.get_future().wait();  // would hang (and ctest time out) if "fine" waited for "hung"
  EXPECT_FALSE(behind_ran);
  release.set_value();
}

TEST(InlineDispatcherTest, RunsAtOnce) {
  InlineDispatcher d;
  int ran = 0;
  d.Post("n0", [&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace loom
