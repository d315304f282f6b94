// StepReporter: how a training job's rank 0 tells loomd about its steps. Record() only queues;
// a background thread sends the queue every `interval` (one RPC for many steps), so a step never
// waits on the network. If loomd is away the samples wait (up to a bound) and go with the next
// send; metrics are best effort and never fail the job.
//
// Thread safety: Record and Flush may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom::worker {

class StepReporter {
 public:
  // From the environment a Loom worker gives its ranks (LOOM_SERVER, LOOM_JOB_ID, LOOM_JOB_RUN).
  // nullptr when the process was not started by Loom; INVALID_ARGUMENT for malformed values.
  static StatusOr<std::unique_ptr<StepReporter>> FromEnvironment(
      std::chrono::milliseconds interval = std::chrono::seconds(1));

  StepReporter(const std::string& server, int64_t job_id, int run, std::chrono::milliseconds interval);
  ~StepReporter();  // sends what is queued (waiting a few seconds at most), then stops
  StepReporter(const StepReporter&) = delete;
  StepReporter& operator=(const StepReporter&) = delete;

  void Record(const v1::StepSample& sample);
  // Sends what is queued now; the RPC's status.
  Status Flush();

 private:
  void Loop();

  static constexpr size_t kMaxQueued = 100000;  // steps kept while loomd is unreachable

  std::unique_ptr<v1::Scheduler::Stub> stub_;
  const std::string server_;
  const int64_t job_id_;
  const int run_;
  const std::chrono::milliseconds interval_;

  std::mutex send_mu_;  // held through a whole send, before mu_
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::StepSample> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                  // GUARDED_BY(mu_)
  bool warned_ = false;                // GUARDED_BY(mu_): one line per outage, not per send
  std::thread thread_;
};

}  // namespace loom::worker
