// NodeAgent: the worker's side of the conversation with loomd. It registers the node, heartbeats
// with GPU utilization and the jobs it runs, delivers exit reports (kept and resent until loomd
// acknowledges them, so a loomd restart loses none), and kills jobs loomd no longer runs here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "loom/v1/loom.grpc.pb.h"
#include "worker/gpu.h"
#include "worker/job_runner.h"

namespace loom::worker {

class NodeAgent {
 public:
  // `channel`: to loomd, presenting this node's certificate (tls::Security::Dial).
  NodeAgent(std::shared_ptr<grpc::Channel> channel, const std::string& server, v1::Node node, std::string session);

  void set_runner(JobRunner* runner) { runner_ = runner; }
  // Real GPUs' busy fractions come from NVML; without it (emulated GPUs), from the runner.
  void set_nvml(std::unique_ptr<NvmlSampler> nvml) { nvml_ = std::move(nvml); }
  // The first registration: its errors (name taken, loomd not running) end the worker.
  Status Register();
  // Heartbeats and report delivery until `stop`; re-registers when loomd asks (it restarted).
  void Run(const std::atomic<bool>& stop);
  // JobRunner's exit callback.
  void OnJobExit(const JobExit& exit);
  void Wake();
  // Sends queued exit reports until loomd is unreachable or none are left.
  void FlushReports();

 private:
  Status DoRegister();

  std::unique_ptr<v1::Scheduler::Stub> stub_;
  const std::string server_;
  v1::Node node_;
  const std::string session_;
  JobRunner* runner_ = nullptr;
  std::unique_ptr<NvmlSampler> nvml_;
  int64_t heartbeat_ms_ = 1000;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::ReportJobExitRequest> reports_;  // GUARDED_BY(mu_)
  bool wake_ = false;                             // GUARDED_BY(mu_)
};

}  // namespace loom::worker
