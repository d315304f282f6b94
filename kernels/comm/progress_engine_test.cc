// The progress engine alone (no MPI): issue order, completion, waiting, sticky errors, shutdown.
#include "kernels/comm/progress_engine.h"

#include <gtest/gtest.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace loom::comm::internal {
namespace {

using namespace std::chrono_literals;

TEST(ProgressEngine, RunsItemsInIssueOrderOffTheCallingThread) {
  ProgressEngine engine;
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  std::vector<Request> requests;
  for (int i = 0; i < 20; ++i) {
    requests.push_back(engine.Enqueue([&, i] {
      std::this_thread::sleep_for(i % 3 == 0 ? 1ms : 0ms);  // uneven work must not reorder
      std::lock_guard lock(mu);
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
      return Status::Ok();
    }));
  }
  for (Request& r : requests) ASSERT_TRUE(r.Wait().ok());
  std::vector<int> want(20);
  for (int i = 0; i < 20; ++i) want[i] = i;
  EXPECT_EQ(order, want);
  for (std::thread::id t : threads) EXPECT_NE(t, std::this_thread::get_id());
}

TEST(ProgressEngine, RequestIsPendingUntilItsItemRan) {
  ProgressEngine engine;
  std::atomic<bool> release{false};
  Request r = engine.Enqueue([&] {
    while (!release.load()) std::this_thread::sleep_for(100us);
    return Status::Ok();
  });
  StatusOr<bool> done = r.Test();
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
  EXPECT_TRUE(r.pending());
  release = true;
  EXPECT_TRUE(r.Wait().ok());
  EXPECT_FALSE(r.pending());
}

TEST(ProgressEngine, DrainWaitsForEverythingQueued) {
  ProgressEngine engine;
  std::atomic<int> ran{0};
  std::vector<Request> requests;
  for (int i = 0; i < 5; ++i) {
    requests.push_back(engine.Enqueue([&] {
      std::this_thread::sleep_for(2ms);
      ++ran;
      return Status::Ok();
    }));
  }
  ASSERT_TRUE(engine.Drain().ok());
  EXPECT_EQ(ran.load(), 5);
  for (Request& r : requests) {
    StatusOr<bool> done = r.Test();
    ASSERT_TRUE(done.ok());
    EXPECT_TRUE(*done);
  }
}

TEST(ProgressEngine, FailureIsStickyAndLaterItemsDoNotRun) {
  ProgressEngine engine;
  std::atomic<bool> later_ran{false};
  Request bad = engine.Enqueue([] { return Unavailable("peer gone"); });
  Request later = engine.Enqueue([&] {
    later_ran = true;
    return Status::Ok();
  });
  const Status b = bad.Wait();
  EXPECT_EQ(b.code(), StatusCode::kUnavailable);
  EXPECT_EQ(b.message(), "peer gone");
  const Status l = later.Wait();
  EXPECT_EQ(l.code(), StatusCode::kUnavailable);
  EXPECT_NE(l.message().find("earlier collective failed"), std::string::npos) << l.message();
  EXPECT_FALSE(later_ran.load());
  EXPECT_EQ(engine.Drain().code(), StatusCode::kUnavailable);
}

// CI runs 8 ranks on 2 cores: an idle progress thread must sleep, not spin.
TEST(ProgressEngine, IdleThreadUsesNoCpu) {
  ProgressEngine engine;
  ASSERT_TRUE(engine.Enqueue([] { return Status::Ok(); }).Wait().ok());  // the thread is running
  timespec before{}, after{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &before);
  std::this_thread::sleep_for(200ms);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &after);
  const double cpu_ms =
      (after.tv_sec - before.tv_sec) * 1e3 + (after.tv_nsec - before.tv_nsec) / 1e6;
  EXPECT_LT(cpu_ms, 20) << "the process used " << cpu_ms << " ms of CPU in 200 ms of idling";
}

TEST(ProgressEngine, DestructionRunsWhatIsQueuedAndRequestsStayValid) {
  std::atomic<int> ran{0};
  Request r;
  {
    ProgressEngine engine;
    for (int i = 0; i < 3; ++i) {
      r = engine.Enqueue([&] {
        std::this_thread::sleep_for(1ms);
        ++ran;
        return Status::Ok();
      });
    }
  }
  EXPECT_EQ(ran.load(), 3);
  EXPECT_TRUE(r.Wait().ok());  // the engine is gone; its item is complete
}

}  // namespace
}  // namespace loom::comm::internal
