// CallPool: a fixed set of threads that run loomd's RPC handlers which may block (a commit's
// fsync, a lock held by a scheduling pass) off gRPC's callback threads. gRPC's synchronous server
// holds one thread per call in flight and grows without bound (over 11,000 threads at 18,750
// heartbeating nodes, docs/BENCHMARKS.md); handlers posted here wait in a queue instead, and the
// number of threads stays what loomd was started with.
//
// Thread safety: Post may be called from any thread. Tasks run in the order posted, on at most
// `threads` threads at once. The destructor runs what is queued, then joins the threads; a Post
// after the destructor began is a programming error.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace loom {

class CallPool {
 public:
  explicit CallPool(int threads);
  ~CallPool();
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;

  void Post(std::function<void()> task);
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_ LOOM_GUARDED_BY(mu_);
  bool stopping_ LOOM_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace loom
