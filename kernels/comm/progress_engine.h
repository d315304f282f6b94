// A progress engine: one thread that runs a communicator's queued collectives, one at a time, in
// the order they were issued. This is what makes an asynchronous shared-memory all-reduce
// asynchronous: the calling thread queues it and goes back to compute (the backward pass) while
// the progress thread moves the data.
//
// Ordering is the whole contract. Every rank issues collectives in the same order (as NCCL
// requires), and each rank's engine runs them in that order, so the i-th collective of one rank
// always meets the i-th of the others. Work the caller runs itself (a blocking call, an MPI
// operation) must first Drain() the queue, so it too executes in issue order.
//
// The thread sleeps on a condition variable while the queue is empty: CI runs 8 ranks on 2 cores,
// and an idle thread that spun would take the core from the ranks doing work.
//
// After one queued item fails, the communicator is broken (peers may be stuck mid-collective):
// every later item and every Drain() fails with that error, like NCCL's asynchronous errors.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "common/status.h"
#include "kernels/comm/communicator.h"

namespace loom::comm::internal {

class ProgressEngine {
 public:
  using Work = std::function<Status()>;

  ProgressEngine();
  // Runs everything still queued (peers wait for it), then stops the thread. Requests that outlive
  // the engine stay valid: their items are complete by then.
  ~ProgressEngine();
  ProgressEngine(const ProgressEngine&) = delete;
  ProgressEngine& operator=(const ProgressEngine&) = delete;

  // Queues `work` behind everything queued before and returns the Request that waits for it.
  Request Enqueue(Work work);

  // Waits until everything queued so far has run. Returns the engine's first failure, if any.
  Status Drain();

 private:
  struct Item;
  struct State;  // shared with the Requests, which may outlive the engine
  class ItemOp;

  static void Loop(State& state);

  std::shared_ptr<State> state_;
  std::thread thread_;  // after state_: started once the state exists
};

}  // namespace loom::comm::internal
