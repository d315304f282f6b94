// loom-bench cp's simulated nodes: many fake workers inside the bench process, speaking real gRPC
// to a real loomd. A few Worker servers host all nodes (a Launch names its node through
// job.allocation[node_index]); each node registers once and heartbeats every period, spread over
// the period, with at most one heartbeat in flight per node (as a real worker's blocking loop).
// A launched attempt "runs" for the job's LOOM_BENCH_JOB_MS and is then reported exited (0),
// retried until loomd acknowledges it, and listed in the node's heartbeats until then.
//
// Threads: one heartbeat thread, one exit-timer thread, gRPC's own threads for the servers and
// the callbacks. Latencies are recorded only while recording is on (the measurement window).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <functional>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom::bench {

struct FleetOptions {
  int nodes = 0;
  int gpus_per_node = 8;
  int servers = 4;          // Worker gRPC servers hosting the nodes
  int channels = 8;         // client connections to loomd (nodes are spread over them)
  int64_t heartbeat_ms = 1000;
  int register_window = 64; // Register calls in flight at once
};

// What the fleet saw; latencies in milliseconds, from the recording window only.
struct FleetCounts {
  std::vector<float> heartbeat_ms;
  int64_t heartbeats_ok = 0, heartbeats_failed = 0, heartbeats_skipped = 0;
  int64_t launches = 0, exits_acked = 0, kills = 0, reregisters = 0;
};

class Fleet {
 public:
  // Starts the Worker servers on loopback; nodes are registered by RegisterAll.
  static StatusOr<std::unique_ptr<Fleet>> Start(const std::string& loomd, const FleetOptions& options);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Registers every node (retrying failures) and returns once all are registered or `timeout`.
  Status RegisterAll(std::chrono::milliseconds timeout);
  // Heartbeats run during registration too: each node beats once registered, so nodes that
  // registered early do not go silent (and DOWN) while the rest register.
  void StartHeartbeats();
  void SetRecording(bool on) { recording_ = on; }
  // Stops heartbeats and exit reports and waits (bounded) for calls in flight.
  void Stop();
  FleetCounts Counts();

  // Worker service entry points (called by the servers).
  void OnLaunch(const v1::LaunchRequest& request);
  void OnKill(int64_t job, int32_t attempt);

 private:
  struct Node {
    std::string name, address;
    std::set<std::pair<int64_t, int32_t>> running;  // GUARDED_BY(Fleet::mu_)
    // Launch fencing (worker/launch_fence.h): this fake takes every Launch at once, so its mark
    // is the highest number seen or fenced since it last registered.
    uint64_t launch_mark = 0;                        // GUARDED_BY(Fleet::mu_)
    std::atomic<bool> in_flight{false};
    std::atomic<bool> registered{false};  // heartbeats start once its first Register succeeded
  };
  struct Exit {
    std::chrono::steady_clock::time_point due;
    int node;
    int64_t job;
    int32_t attempt;
    int32_t exit_code;
    bool operator>(const Exit& o) const { return due > o.due; }
  };

  Fleet(const std::string& loomd, const FleetOptions& options);
  v1::Scheduler::Stub* StubFor(int node) { return stubs_[node % stubs_.size()].get(); }
  v1::RegisterRequest RegisterRequestFor(int node);
  void Register(int node, std::function<void(bool)> done);
  void SendHeartbeat(int node);
  void HeartbeatLoop();
  void ExitLoop();
  void SendExit(const Exit& exit);
  void Record(float ms);

  FleetOptions options_;
  std::string session_;
  std::vector<std::unique_ptr<v1::Scheduler::Stub>> stubs_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, int> node_index_;  // immutable after Start

  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Exit, std::vector<Exit>, std::greater<Exit>> exits_;  // GUARDED_BY(mu_)
  std::map<std::pair<int64_t, int32_t>, std::vector<int>> attempts_;         // GUARDED_BY(mu_)
  std::set<std::tuple<int64_t, int32_t, int>> reporting_;  // exit reports in flight; GUARDED_BY(mu_)
  FleetCounts counts_;                                                      // GUARDED_BY(mu_)
  bool stop_ = false;                                                       // GUARDED_BY(mu_)
  std::atomic<bool> recording_{false};
  std::atomic<int64_t> calls_in_flight_{0};
  std::thread heartbeat_thread_, exit_thread_;
};

}  // namespace loom::bench
