#include "scheduler/service/worker_dispatch.h"

#include <algorithm>

namespace loom {

PooledDispatcher::PooledDispatcher(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Work(); });
}

PooledDispatcher::~PooledDispatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void PooledDispatcher::Post(const std::string& key, std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::deque<std::function<void()>>& q = queues_[key];
    q.push_back(std::move(task));
    if (q.size() > 1) return;  // a thread is on this key, or it is already ready
    ready_.push_back(key);
  }
  cv_.notify_one();
}

void PooledDispatcher::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
    if (ready_.empty()) return;  // stopping, and everything posted has run
    const std::string key = std::move(ready_.front());
    ready_.pop_front();
    std::function<void()> task = std::move(queues_[key].front());
    lock.unlock();
    task();
    lock.lock();
    std::deque<std::function<void()>>& q = queues_[key];
    q.pop_front();
    if (q.empty()) {
      queues_.erase(key);
    } else {
      ready_.push_back(key);  // behind the other ready keys: one busy node does not starve them
      cv_.notify_one();
    }
  }
}

}  // namespace loom
