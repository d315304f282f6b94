// The loom subcommands. Each returns the process exit code: 0 on success, 1 on any error, after
// printing one line to stderr.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::cli {

struct Global {
  std::string server;  // --server
  std::string home;    // $LOOM_HOME
  bool json = false;
  bool insecure = false;  // --insecure: plaintext to a loopback loomd (and `loom up` without TLS)
};

int Submit(const Global& g, v1::JobSpec spec, const std::string& file, bool wait);
// `limit` > 0: at most that many jobs (the oldest first).
int Queue(const Global& g, bool all, const std::vector<std::string>& states, int limit);
int Show(const Global& g, const std::string& job);
int Cancel(const Global& g, const std::vector<std::string>& jobs);
int Nodes(const Global& g);
// Drains (no new jobs; with `requeue`, running jobs are signalled and requeued) or resumes nodes.
int Drain(const Global& g, const std::vector<std::string>& nodes, const std::string& reason,
          bool requeue);
int Resume(const Global& g, const std::vector<std::string>& nodes);
int Logs(const Global& g, const std::string& job, int rank, bool stderr_stream, bool follow);
int Stats(const Global& g, const std::string& since);

struct UpOptions {
  int workers = 3;
  int gpus_per_worker = 4;
  std::string gpu_model = "H100-SXM-80GB";
  int64_t heartbeat_ms = 1000;
  int64_t node_timeout_ms = 5000;
  std::string policy;         // empty: the policy config's, else loomd's default
  std::string policy_config;  // loomd --policy-config
  std::string cluster_config;  // one worker per node of this config, instead of --workers
  std::string http_listen = "127.0.0.1:0";  // loomd's and workers' /metrics and dashboard; empty: off
};
int Up(const Global& g, const UpOptions& options);

// One line to stderr, prefixed "loom: "; returns 1.
int Error(const std::string& message);
// loom token create|list|revoke (admin), through loomd.
int TokenCreate(const Global& g, const std::string& tenant, bool admin, const std::string& expires);
int TokenList(const Global& g);
int TokenRevoke(const Global& g, const std::string& id);
// loom up: an admin token for this machine's user in $LOOM_HOME/token (mode 0600), written
// straight into loomd's token file; an existing valid one is kept.
Status EnsureLocalAdminToken(const std::string& home);
// loom certs init DIR --node N...: the cluster CA, loomd's certificate and the nodes'.
int CertsInit(const std::string& dir, const std::vector<std::string>& nodes);

}  // namespace loom::cli
