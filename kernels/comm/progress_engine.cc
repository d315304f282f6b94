#include "kernels/comm/progress_engine.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

namespace loom::comm::internal {

struct ProgressEngine::Item {
  Work work;
  bool done = false;  // guarded by State::mu
  Status status;      // valid once done
};

struct ProgressEngine::State {
  std::mutex mu;
  std::condition_variable wake;  // the progress thread: work queued, or stop
  std::condition_variable done;  // waiters: an item completed
  std::deque<std::shared_ptr<Item>> queue;  // not yet started, in issue order
  size_t unfinished = 0;         // queued + running
  bool stop = false;
  Status first_error;             // sticky: the first item that failed
};

// What Request::Wait() waits on: one queued item.
class ProgressEngine::ItemOp final : public PendingOp {
 public:
  ItemOp(std::shared_ptr<State> state, std::shared_ptr<Item> item)
      : state_(std::move(state)), item_(std::move(item)) {}
  Status Wait() override {
    std::unique_lock lock(state_->mu);
    state_->done.wait(lock, [&] { return item_->done; });
    return item_->status;
  }
  StatusOr<bool> Test() override {
    std::lock_guard lock(state_->mu);
    if (!item_->done) return false;
    LOOM_RETURN_IF_ERROR(item_->status);
    return true;
  }

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<Item> item_;
};

ProgressEngine::ProgressEngine()
    : state_(std::make_shared<State>()), thread_([s = state_] { Loop(*s); }) {}

ProgressEngine::~ProgressEngine() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->wake.notify_one();
  thread_.join();  // Loop() empties the queue before it returns
}

Request ProgressEngine::Enqueue(Work work) {
  auto item = std::make_shared<Item>();
  item->work = std::move(work);
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(item);
    ++state_->unfinished;
  }
  state_->wake.notify_one();
  return Request(std::make_unique<ItemOp>(state_, std::move(item)));
}

Status ProgressEngine::Drain() {
  std::unique_lock lock(state_->mu);
  state_->done.wait(lock, [&] { return state_->unfinished == 0; });
  return state_->first_error;
}

void ProgressEngine::Loop(State& state) {
  std::unique_lock lock(state.mu);
  for (;;) {
    // Sleeps, never spins, while there is nothing to do; exits only with the queue empty.
    state.wake.wait(lock, [&] { return state.stop || !state.queue.empty(); });
    if (state.queue.empty()) return;
    std::shared_ptr<Item> item = std::move(state.queue.front());
    state.queue.pop_front();
    const Status earlier = state.first_error;
    lock.unlock();
    // After a failure the peers may be stuck in that collective: running later ones would hang.
    Status s = earlier.ok() ? item->work()
                            : Status(earlier.code(), "not run, an earlier collective failed: " +
                                                         earlier.message());
    item->work = nullptr;  // release what the closure holds before reporting completion
    lock.lock();
    if (state.first_error.ok()) state.first_error = s;
    item->status = std::move(s);
    item->done = true;
    --state.unfinished;
    state.done.notify_all();
  }
}

}  // namespace loom::comm::internal
