// NodeAgent: the worker's side of the conversation with loomd. It registers the node, heartbeats
// with GPU utilization, health and the attempts it runs, delivers exit reports (kept on disk and
// resent with backoff until loomd acknowledges them, so neither a loomd restart nor a refused
// commit nor a worker restart loses one), kills attempts loomd no longer runs here, and enforces
// the node lease: cut off from loomd for longer than the lease, it kills its jobs (loomd presumes
// them gone after the same time and gives their GPUs to others).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.grpc.pb.h"
#include "worker/gpu.h"
#include "worker/job_runner.h"
#include "worker/report_spool.h"

namespace loom::worker {

struct AgentOptions {
  std::string report_dir;          // where unacknowledged exit reports wait (ReportSpool)
  int64_t retry_min_ms = 200;      // exit report resend backoff: doubling from here ...
  int64_t retry_max_ms = 30000;    // ... up to here
  int64_t default_lease_ms = 0;    // the node lease when loomd names none; 0: no lease
  std::string lease_file;          // rewritten at each answer from loomd, for the supervisors
};

class NodeAgent {
 public:
  // `channel`: to loomd, presenting this node's certificate (tls::Security::Dial). Loads the exit
  // reports an earlier worker on this node left unacknowledged.
  NodeAgent(std::shared_ptr<grpc::Channel> channel, const std::string& server, v1::Node node, std::string session,
            AgentOptions options);

  void set_runner(JobRunner* runner) {
    runner_ = runner;
    runner_->set_before_launch([this] { CheckLease(); });
  }
  // Real GPUs' busy fractions come from NVML; without it (emulated GPUs), from the runner.
  void set_nvml(std::unique_ptr<NvmlSampler> nvml) { nvml_ = std::move(nvml); }
  // The node's health, asked for before each Register and heartbeat (health checks, NVML).
  void set_health(std::function<v1::NodeHealth()> health) { health_ = std::move(health); }
  // The first registration: its errors (name taken, loomd not running) end the worker.
  Status Register();
  // Heartbeats and report delivery until `stop`; re-registers when loomd asks (it restarted).
  void Run(const std::atomic<bool>& stop);
  // JobRunner's exit callback: the report is on disk before this returns.
  void OnJobExit(const JobExit& exit);
  void Wake();
  // Sends waiting exit reports, oldest first, until one fails (then backs off) or none are left.
  // Before the backoff's next try it sends nothing.
  void FlushReports();
  // The GPUs' busy fractions sent with the last heartbeat (empty before the first), for /metrics.
  std::vector<double> LastBusy();
  // Exit reports not yet acknowledged.
  size_t PendingReports();
  int64_t lease_ms() const { return lease_ms_; }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;
  Status DoRegister();
  void Heartbeat(SteadyTime& next_heartbeat, bool& registered);
  void CheckLease();
  // The attempts running here and those whose exit report waits, for Register and heartbeats.
  // With `registration`, the runner accepts only launches stamped with it from now on, and the
  // list is taken in the same step (the Register call's; JobRunner::BeginRegistration). Without
  // it, `launch_mark` gets the runner's launch mark read with the list (a heartbeat's).
  void ListAttempts(google::protobuf::RepeatedPtrField<v1::JobAttempt>& out,
                    std::optional<uint64_t> registration = std::nullopt, uint64_t* launch_mark = nullptr);
  static uint64_t NewRegistration();
  void Contact(SteadyTime sent);  // loomd answered a call sent at `sent`

  std::unique_ptr<v1::Scheduler::Stub> stub_;
  const std::string server_;
  v1::Node node_;
  const std::string session_;
  const AgentOptions options_;
  JobRunner* runner_ = nullptr;
  std::unique_ptr<NvmlSampler> nvml_;
  std::function<v1::NodeHealth()> health_;
  int64_t heartbeat_ms_ = 1000;
  std::atomic<int64_t> lease_ms_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  ReportSpool spool_;                             // GUARDED_BY(mu_)
  std::deque<v1::ReportJobExitRequest> reports_;  // GUARDED_BY(mu_): what spool_ holds
  int failures_ = 0;                              // GUARDED_BY(mu_): consecutive failed sends
  SteadyTime next_try_{};                         // GUARDED_BY(mu_)
  SteadyTime last_contact_;                       // GUARDED_BY(mu_)
  bool lease_expired_ = false;                    // GUARDED_BY(mu_)
  std::atomic<bool> reregister_{false};           // the lease ran out: register before anything else
  bool wake_ = false;                             // GUARDED_BY(mu_)
  std::vector<double> last_busy_;                 // GUARDED_BY(mu_)
};

}  // namespace loom::worker
