// Where loomd's calls to workers (Launch, Kill) run. A call to a hung worker (SIGSTOP, a
// partition that drops packets) waits its whole deadline; sent inline from a scheduling pass it
// would stall every pass and every other node's calls meanwhile. The pooled dispatcher runs each
// node's calls in order (a Launch before the Kill decided after it), nodes in parallel.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace loom {

class CallDispatcher {
 public:
  virtual ~CallDispatcher() = default;
  // Runs `task` after every task posted earlier with the same `key`.
  virtual void Post(const std::string& key, std::function<void()> task) = 0;
};

// On the caller's thread, at once: for tests that look at the calls right after a pass.
class InlineDispatcher final : public CallDispatcher {
 public:
  void Post(const std::string&, std::function<void()> task) override { task(); }
};

// Per-key FIFOs served by `threads` threads; a key is served by one thread at a time. The
// destructor runs what was posted, then joins.
class PooledDispatcher final : public CallDispatcher {
 public:
  explicit PooledDispatcher(int threads);
  ~PooledDispatcher() override;
  void Post(const std::string& key, std::function<void()> task) override;

 private:
  void Work();

  std::mutex mu_;
  std::condition_variable cv_;
  // A key is here while it has tasks; its front task is the one running, if any.
  std::unordered_map<std::string, std::deque<std::function<void()>>> queues_;
  std::deque<std::string> ready_;  // keys with tasks and no thread on them
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace loom
