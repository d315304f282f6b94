// ControlPlane: loomd's mechanism. It owns the scheduler core, the job and node records and the
// store, and turns RPCs, worker reports and the passage of time into state changes. Every change
// is committed to the store before the call that caused it returns. Policy lives in the core;
// transport lives in the gRPC service and the WorkerClient.
//
// Thread safety: all public methods may be called from any thread. State is guarded by mu_; calls
// to workers are made without holding it.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/policies/registry.h"
#include "common/clock.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/service/metrics_ledger.h"
#include "scheduler/service/worker_client.h"
#include "scheduler/store/store.h"

namespace loom {

struct ControlPlaneOptions {
  int64_t heartbeat_interval_ms = 1000;
  int64_t node_timeout_ms = 5000;            // no heartbeat for this long: the node is DOWN
  int64_t default_time_limit_ms = 24 * 3600 * 1000LL;
  std::string policy = "priority-fifo";
  int64_t metrics_bucket_ms = 10 * 1000;    // resolution of the usage and step time series
  store::RollUpPolicy metrics_rollup;        // how the series stay bounded
  sched::PolicySettings policy_settings;  // weights, fair share, quotas, backfill (--policy-config)
};

class ControlPlane {
 public:
  // Loads the store's state: pending jobs are queued again in their order, running jobs keep their
  // GPUs until their workers re-register (or time out), known nodes wait for their workers.
  static StatusOr<std::unique_ptr<ControlPlane>> Create(std::unique_ptr<store::Store> store,
                                                       WorkerClient* workers, Clock* clock,
                                                       ControlPlaneOptions options);

  // --- CLI
  StatusOr<int64_t> Submit(v1::JobSpec spec);
  StatusOr<v1::Job> GetJob(int64_t id) const;
  std::vector<v1::Job> ListJobs(const std::vector<v1::JobState>& states) const;
  StatusOr<v1::Job> Cancel(int64_t id);
  std::vector<v1::Node> ListNodes() const;
  StatusOr<v1::ReadLogReply> ReadLog(const v1::ReadLogRequest& request);
  // Counters now and efficiency figures over the request's window. INVALID_ARGUMENT for a
  // negative window or end.
  StatusOr<v1::Stats> GetStats(const v1::GetStatsRequest& request = {});

  // --- workers
  StatusOr<v1::RegisterReply> Register(const v1::RegisterRequest& request);
  v1::HeartbeatReply Heartbeat(const v1::HeartbeatRequest& request);
  Status ReportJobExit(const v1::ReportJobExitRequest& request);
  // --- a job's rank 0: training steps. NOT_FOUND for an unknown job, INVALID_ARGUMENT for a run
  // the job never had or a sample with negative or non-finite figures.
  Status ReportSteps(const v1::ReportStepsRequest& request);

  // --- loomd's own threads
  // Runs one scheduling pass if something changed since the last one (or `force`), then launches
  // the started jobs on their workers. Returns the number of jobs started.
  int SchedulePass(bool force = false);
  // Blocks until a pass is due or `timeout_ms` passed. Returns true if a pass is due.
  bool WaitForWork(int64_t timeout_ms);
  // Marks nodes that stopped heartbeating DOWN and fails their jobs.
  void CheckLiveness();
  // Writes the metrics buckets that closed (all of them, when `everything`: loomd is stopping)
  // and the step totals reported since, and rolls old buckets up now and then.
  void FlushMetrics(bool everything = false);
  // Wakes WaitForWork so loomd's threads can stop.
  void Shutdown();

  const ControlPlaneOptions& options() const { return options_; }

 private:
  struct NodeEntry {
    v1::Node node;
    std::string session;        // the registered worker process; empty until one registers
    int64_t last_seen_ms = 0;
  };
  // A call to a worker, decided under the lock and made after it is released.
  struct WorkerCall {
    enum Kind { kLaunch, kKill } kind;
    std::string address;
    int64_t job_id = 0;
    std::string node;
    v1::LaunchRequest launch;
    std::string reason;
  };

  ControlPlane(std::unique_ptr<store::Store> store, WorkerClient* workers, Clock* clock,
               ControlPlaneOptions options, std::unique_ptr<sched::SchedulerCore> core);
  Status Recover();

  // Starts preempting `victim` for `for_job`: records it, and queues SIGTERM (then SIGKILL after
  // the workers' grace period) for its nodes. The caller commits `batch`.
  void BeginPreemption(v1::Job& victim, int64_t for_job, int64_t now, store::Batch& batch,
                       std::vector<WorkerCall>& calls);
  // A preempted job whose ranks are all gone goes back to the queue (RUNNING -> PENDING), keeping
  // its submit time. The caller commits, then calls core_->Requeue.
  void RequeuePreempted(v1::Job& job, int64_t now, store::Batch& batch);
  // Queues a kill of `job` on each of its nodes that still runs ranks.
  void KillRemainingNodes(const v1::Job& job, const std::string& reason, std::vector<WorkerCall>& calls);
  // Ends a running job: records the final state and queues kills for the nodes that still run
  // its ranks. The caller commits `batch`, then calls ReleaseIfQuiet.
  void EndRunningJob(v1::Job& job, v1::JobState state, int exit_code, const std::string& reason,
                     int64_t now, store::Batch& batch, std::vector<WorkerCall>& calls);
  // An ended job keeps its GPUs until no node runs its ranks any more (each reported its exit,
  // lost the job, or is DOWN), so no job starts beside a dying one. Marks `job` released when
  // that holds; returns true if it changed.
  bool MarkReleasedIfQuiet(v1::Job& job) const;
  // No node of `job` runs its ranks any more: each reported its exit, lost the job, or is DOWN.
  bool AllNodesQuiet(const v1::Job& job) const;
  // After the commit: frees a released job's GPUs in the core.
  void ApplyRelease(const v1::Job& job);
  void MarkDirty();
  void RunCalls(std::vector<WorkerCall> calls);
  // Called after a failed launch: the job fails and its other nodes are told to stop.
  void LaunchFailed(int64_t job_id, const std::string& node, const Status& why);
  StatusOr<sched::JobRequest> RequestOf(const v1::JobSpec& spec) const;
  // Adds what the scheduler knows of a pending job (reason, expected start) to a copy for a reply.
  void DescribePending(v1::Job& job, bool with_factors) const;
  StatusOr<sched::Allocation> AllocationOf(const v1::Job& job) const;
  // The cluster's levels now, for the usage series.
  acct::UsageLevels UsageLevelsNow() const;
  // Peak FLOP/s of a job's allocated GPUs, as their workers declared them.
  double PeakFlopsOf(const v1::Job& job) const;
  // The job's MFU per metrics bucket over its latest run with steps, oldest first.
  std::vector<double> MfuSeries(const v1::Job& job) const;
  void FillAllocation(const sched::Allocation& allocation, v1::Job& job) const;
  // True while `job` is being preempted and its ranks on `node` have not reported their exit: the
  // node must (still) be told to kill them, e.g. after a loomd restart lost the first kill.
  static bool KillOwedForPreemption(const v1::Job& job, const std::string& node);
  // The policy's fair-share usage if it changed since it was last written and either it rides
  // along a commit made anyway (`with_other_writes`) or the last write is kUsageWriteIntervalMs
  // old; otherwise empty. After a successful commit of it the caller calls UsageWritten.
  std::vector<sched::TenantUsage> UsageToWrite(int64_t now, bool with_other_writes) const;
  void UsageWritten(int64_t now, std::vector<sched::TenantUsage> usage);

  const ControlPlaneOptions options_;
  std::unique_ptr<store::Store> store_;
  WorkerClient* const workers_;
  Clock* const clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<sched::SchedulerCore> core_;  // GUARDED_BY(mu_)
  std::map<int64_t, v1::Job> jobs_;             // GUARDED_BY(mu_)
  std::map<std::string, NodeEntry> nodes_;      // GUARDED_BY(mu_)
  int64_t next_job_id_ = 1;                     // GUARDED_BY(mu_)
  bool dirty_ = true;                           // GUARDED_BY(mu_): a pass is due
  bool shutdown_ = false;                       // GUARDED_BY(mu_)
  MetricsLedger metrics_;                       // GUARDED_BY(mu_)
  std::set<int64_t> metrics_jobs_;              // GUARDED_BY(mu_): step totals not yet stored
  std::optional<sched::JobRequest> smallest_pending_;  // GUARDED_BY(mu_): as of the last pass
  int64_t last_rollup_ms_ = 0;                  // GUARDED_BY(mu_)
  std::vector<sched::TenantUsage> written_usage_;  // GUARDED_BY(mu_): as last committed
  int64_t usage_written_ms_ = 0;                   // GUARDED_BY(mu_)
};

}  // namespace loom
