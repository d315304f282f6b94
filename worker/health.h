// Node health (Slurm's HealthCheckProgram, NHC): an operator's program run at start and every
// interval, and on real GPUs NVML's word on lost GPUs and uncorrectable ECC errors. The worker
// sends the result in Register and every heartbeat (NodeHealth); loomd drains a failing node.
// The decisions are pure functions; HealthMonitor runs them on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "loom/v1/loom.pb.h"

namespace loom::worker {

// What a health check's run means: exit 0 is healthy; anything else (or no end within its time)
// is failing, with the first non-empty line of its output as the reason.
v1::NodeHealth HealthFromCheck(int exit_code, bool timed_out, const std::string& output);

// The NVML entry points the GPU check needs, as a table so a test can stand in for the library.
// Return codes are NVML's (0 success, 3 not supported, 15 GPU lost).
struct NvmlHealthApi {
  std::function<int(unsigned index, void** device)> handle;
  // nvmlDeviceGetTotalEccErrors(device, UNCORRECTED, VOLATILE, &count); may be empty.
  std::function<int(void* device, unsigned long long* count)> uncorrected_ecc;
};
constexpr int kNvmlSuccess = 0;
constexpr int kNvmlNotSupported = 3;
constexpr int kNvmlGpuIsLost = 15;

// Failing if any of GPUs 0..count-1 is lost or has uncorrectable ECC errors since the driver
// loaded; other NVML errors are not a verdict on the GPU.
v1::NodeHealth NvmlHealth(const NvmlHealthApi& api, int count);

// Runs a health check program (through /bin/sh -c, so it may carry arguments) for at most
// `timeout`; the spawning and waiting are the caller's (the worker routes them through its
// JobRunner, whose reaper owns waitpid).
struct CheckRun {
  int exit_code = 0;
  bool timed_out = false;
  std::string output;  // stdout and stderr, the first 4 KiB
};
using CheckRunner = std::function<CheckRun(const std::string& command, std::chrono::milliseconds timeout)>;

class HealthMonitor {
 public:
  // `nvml` may be empty (emulated GPUs); `command` may be empty (no program).
  HealthMonitor(std::string command, std::chrono::milliseconds interval, CheckRunner run,
                std::function<v1::NodeHealth()> nvml);
  ~HealthMonitor();
  // Runs the checks once now (the first time, before Register), then every interval on a thread.
  void Start();
  v1::NodeHealth Current() const;

 private:
  v1::NodeHealth CheckOnce();
  const std::string command_;
  const std::chrono::milliseconds interval_;
  const CheckRunner run_;
  const std::function<v1::NodeHealth()> nvml_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  v1::NodeHealth current_;  // GUARDED_BY(mu_)
  bool stop_ = false;       // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace loom::worker
