// LocalCluster: loomd and N emulated workers as real processes on loopback, for integration
// tests. Every process it starts dies with the test (PR_SET_PDEATHSIG) and is killed in the
// destructor, so a failing test leaves nothing behind. Job supervisors outlive a killed worker
// by design; the test process is their subreaper, and the destructor ends them too.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

class LocalCluster {
 public:
  struct Options {
    int workers = 3;
    int gpus_per_worker = 4;
    int64_t heartbeat_ms = 200;
    int64_t node_timeout_ms = 1500;
    std::string policy;         // loomd --policy; empty: its default
    std::string policy_config;  // loomd --policy-config; empty: none
    // loom-worker --node-lease, in ms: -1 is node_timeout_ms rounded up to whole seconds; 0 none.
    int64_t node_lease_ms = -1;
    bool insecure = false;      // plaintext everywhere (--insecure); default: TLS with its own CA
    std::vector<std::string> worker_args;  // extra loom-worker flags (e.g. --run-as)
    // loom-worker --allow-root-ranks (a no-op unless the test runs as root, as CI does).
    bool allow_root_ranks = true;
  };
  explicit LocalCluster(Options options);
  LocalCluster() : LocalCluster(Options{}) {}
  ~LocalCluster();

  // Starts loomd and the workers; returns once every worker is UP.
  Status Start();
  Status StartLoomd();       // on the same port as before when restarting
  Status StartWorker(int i);  // worker i is named node-<i+1>
  void KillLoomd(int sig);
  void KillWorker(int i, int sig);  // and waits for it to exit
  void SignalWorker(int i, int sig);  // only sends the signal (SIGSTOP, SIGCONT)
  pid_t worker_pid(int i) const { return workers_[i]; }

  // Runs the loom CLI against this cluster.
  CommandResult Loom(const std::vector<std::string>& args);
  // Submits through the CLI; the job id, or a failed status with the CLI's stderr.
  StatusOr<int64_t> Submit(const std::vector<std::string>& args);

  v1::Scheduler::Stub& stub() { return *stub_; }
  StatusOr<v1::Job> GetJob(int64_t id);
  // Polls until the job reaches `state` (or any final state if it cannot anymore).
  StatusOr<v1::Job> WaitForState(int64_t id, v1::JobState state,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Polls until `count` nodes are in `state`.
  Status WaitForNodes(int count, v1::NodeState state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  const std::string& home() const { return home_; }
  std::string certs_dir() const;
  // A token written straight into loomd's token file, as `loomd token create` does.
  std::string CreateToken(const std::string& tenant, bool admin = false, int64_t expires_ms = 0);
  const std::string& admin_token() const { return admin_token_; }
  const std::string& address() const { return address_; }
  // A scratch directory for jobs' working directories and files.
  std::string MakeDir(const std::string& name) const;

 private:
  StatusOr<pid_t> Start(std::vector<std::string> argv, const std::string& log);

  Options options_;
  std::string home_;
  std::string address_;
  std::string admin_token_;
  pid_t loomd_ = 0;
  std::vector<pid_t> workers_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

// A stub for loomd at `address` over TLS with the CA in `certs_dir`, presenting certificate
// `stem` (empty: none) and bearer `token` (empty: none); plaintext if `certs_dir` is empty.
std::unique_ptr<v1::Scheduler::Stub> SchedulerStub(const std::string& address, const std::string& certs_dir,
                                                   const std::string& stem, const std::string& token = "");

// A file's whole content; empty if it cannot be read.
std::string ReadFile(const std::string& path);

// Waits for `path` to exist with content (a job's signal that it got somewhere).
bool WaitForFile(const std::string& path, std::chrono::seconds timeout = std::chrono::seconds(20));
// Polls `done` until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds timeout);

// True while `pid` exists (and is not a zombie).
bool ProcessAlive(pid_t pid);

}  // namespace loom::testing
