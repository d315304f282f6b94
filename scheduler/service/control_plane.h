// ControlPlane: loomd's mechanism, kept thin. RPC entry points and the passage of time become
// events for the pure lifecycle (scheduler/lifecycle), whose Edit goes through one LogAndApply:
// commit to the store, then apply to memory and the scheduler core, then send the worker calls.
// A failed commit applies nothing and sends nothing. Policy lives in the core; transport in the
// gRPC service and the WorkerClient; the read-only views (stats, MFU series, pending reasons) in
// control_plane_views.cc.
//
// Thread safety: all public methods may be called from any thread. Two locks:
//  - commit_mu_ serialises writers: an entry point that may change state holds it from reading
//    the rows it decides on until its Edit is applied, so no other change slips in between;
//  - mu_ guards the in-memory state and is held only to read it or to apply an Edit, never across
//    the store's fsync. Heartbeats, reads and step reports take only mu_, so they do not wait for
//    a commit (a heartbeat that changes rows — a health drain, a lost job — takes the writer path).
// Lock order: commit_mu_ before mu_. Calls to workers are made without either.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "loom/v1/loom.pb.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/lifecycle/lifecycle.h"
#include "scheduler/policies/registry.h"
#include "scheduler/service/metrics_ledger.h"
#include "scheduler/service/worker_client.h"
#include "scheduler/service/worker_dispatch.h"
#include "scheduler/store/store.h"

namespace loom {

struct ControlPlaneOptions {
  int64_t heartbeat_interval_ms = 1000;
  int64_t node_timeout_ms = 5000;            // no heartbeat for this long: the node is DOWN
  // A DOWN node's ranks are presumed gone (its worker kills them) this long after its last
  // heartbeat; only then are its GPUs given back. Sent to workers in RegisterReply. 0: 3 × the
  // node timeout.
  int64_t node_lease_ms = 0;
  int64_t default_time_limit_ms = 24 * 3600 * 1000LL;
  std::string policy = "priority-fifo";
  int64_t metrics_bucket_ms = 10 * 1000;    // resolution of the usage and step time series
  store::RollUpPolicy metrics_rollup;        // how the series stay bounded
  sched::PolicySettings policy_settings;  // weights, fair share, quotas, backfill (--policy-config)
  lifecycle::Options lifecycle;           // requeue budget, grace and its cap
  // A finished job leaves memory this long after it ended (Slurm's MinJobAge); it stays in the
  // store, where GetJob and ListJobs(include_finished) still find it.
  int64_t min_job_age_ms = 300 * 1000;
  // FAULT INJECTION, tests only (env LOOM_FAULT_EXIT_BEFORE_LAUNCH=1 in loomd): exit the process
  // right after a pass that starts a job is committed, before its Launch is sent, to hit the
  // commit-to-Launch window deterministically. Off by default.
  bool fault_exit_before_launch = false;
  // Threads that send Launch and Kill calls to workers, each node's in order (worker_dispatch.h);
  // 0 sends them on the deciding thread before it returns (tests that inspect them at once).
  int worker_call_threads = 0;

  int64_t lease_ms() const { return node_lease_ms > 0 ? node_lease_ms : 3 * node_timeout_ms; }
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
  // Jobs in memory (pending, running, recently finished) in `states` (empty: all), by id.
  std::vector<v1::Job> ListJobs(const std::vector<v1::JobState>& states) const;
  // A page of jobs by id: from memory, or with include_finished from the store's whole history.
  // INVALID_ARGUMENT for a page token this loomd did not hand out.
  StatusOr<v1::ListJobsReply> ListJobsPage(const v1::ListJobsRequest& request) const;
  StatusOr<v1::Job> Cancel(int64_t id);
  // Jobs as the CLI names them (12; 12_7, task 7 of array 12; an array's id: every task), held,
  // released or cancelled in one commit (control_plane_jobs.cc). NOT_FOUND or
  // FAILED_PRECONDITION change nothing. Returns the jobs' rows after the change.
  StatusOr<std::vector<v1::Job>> Hold(const std::vector<v1::JobRef>& refs);
  StatusOr<std::vector<v1::Job>> Release(const std::vector<v1::JobRef>& refs);
  StatusOr<std::vector<v1::Job>> CancelJobs(const std::vector<v1::JobRef>& refs);
  std::vector<v1::Node> ListNodes() const;
  // NOT_FOUND for an unknown node, changing nothing.
  StatusOr<std::vector<v1::Node>> Drain(const v1::DrainRequest& request);
  StatusOr<std::vector<v1::Node>> Resume(const v1::ResumeRequest& request);
  StatusOr<v1::ReadLogReply> ReadLog(const v1::ReadLogRequest& request);
  // Counters now and efficiency figures over the request's window. INVALID_ARGUMENT for a
  // negative window or end.
  StatusOr<v1::Stats> GetStats(const v1::GetStatsRequest& request = {});

  // --- workers
  StatusOr<v1::RegisterReply> Register(const v1::RegisterRequest& request);
  v1::HeartbeatReply Heartbeat(const v1::HeartbeatRequest& request);
  // Heartbeat's common case, which commits nothing and takes only mu_ (briefly): the reply, or
  // nullopt when rows must change (a job lost, a health drain), for which the caller calls
  // Heartbeat (it may block on a commit). The node's liveness and utilisation are recorded
  // either way. loomd answers it on gRPC's own threads; Heartbeat runs on its CallPool.
  std::optional<v1::HeartbeatReply> TryHeartbeat(const v1::HeartbeatRequest& request);
  // OK once the report is committed, or found stale (an older attempt, an unknown job): either
  // way the worker may forget it. Any other error: the worker keeps it and retries.
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
  // Marks nodes that stopped heartbeating DOWN (their attempts stop) and gives back the GPUs of
  // nodes DOWN past their lease.
  void CheckLiveness();
  // Drops jobs that finished more than min_job_age_ms ago from memory (they stay in the store).
  // Returns how many.
  int ForgetFinished();
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
    lifecycle::MissCounts misses;  // heartbeats that left out a job held here
    uint64_t registration = 0;  // its latest Register call's nonce, stamped on Launches
    // Launch fencing (worker/launch_fence.h), for this registration: the last number given to a
    // Launch, the Launches not finished yet (sent and unanswered, or not sent), and the jobs whose
    // Launch the worker's mark has not reached (a heartbeat leaving them out is not a miss).
    uint64_t launch_seq = 0;
    std::set<uint64_t> launches_in_flight;
    std::map<int64_t, uint64_t> unmarked_launches;  // job id -> its Launch's number
    uint64_t LaunchFence() const {
      return launches_in_flight.empty() ? launch_seq : *launches_in_flight.begin() - 1;
    }
  };
  class StateView;
  class ExtraRowsView;

  ControlPlane(std::unique_ptr<store::Store> store, WorkerClient* workers, Clock* clock,
               ControlPlaneOptions options, std::unique_ptr<sched::SchedulerCore> core);
  Status Recover();

  // The one way state changes: commits `edit` (with `extra` rows: fair-share usage, metrics),
  // then applies it to memory and the core; returns the worker calls to send once the caller
  // released its locks. A failed commit changes nothing and returns its error. The caller holds
  // commit_mu_ (not mu_).
  StatusOr<std::vector<lifecycle::WorkerCall>> LogAndApply(lifecycle::Edit edit,
                                                           const store::Batch& extra = {})
      LOOM_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Computes an edit from the state under mu_ and passes it through LogAndApply, then sends its
  // calls. `decide` returns the edit or an error (which changes nothing).
  template <typename Decide>
  Status Change(Decide decide) LOOM_LOCKS_EXCLUDED(commit_mu_, mu_);
  // Launch fencing (worker/launch_fence.h). The jobs of `entry` whose Launch the worker's
  // `mark` has not reached (those it reached leave the set).
  static std::vector<int64_t> Unmarked(NodeEntry& entry, uint64_t mark);
  bool LaunchStillWanted(const lifecycle::WorkerCall& call) LOOM_LOCKS_EXCLUDED(mu_);
  void LaunchFinished(const lifecycle::WorkerCall& call) LOOM_LOCKS_EXCLUDED(mu_);
  // A Launch error the worker itself answered: it started nothing.
  static bool WorkerRefused(const Status& s);
  void MarkDirty();

  // control_plane_jobs.cc: arrays, dependencies, hold and release.
  // The rows of one Submit: one job, or one per array task (ids from next_job_id_).
  StatusOr<std::vector<v1::Job>> MakeRows(const v1::JobSpec& spec) const LOOM_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Resolves the spec's dependency terms (12_3 → the task's id; an array's id → whole_array) and
  // checks that each names a known job; rows only the store still has go to `extra`.
  Status ResolveDependencies(v1::JobSpec& spec, std::map<int64_t, v1::Job>& extra)
      LOOM_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_, mu_);
  // The ids `ref` names, ascending. NOT_FOUND for an unknown job or task.
  StatusOr<std::vector<int64_t>> ResolveRef(const v1::JobRef& ref) const LOOM_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps the indexes below in step with a job row (`before`: its previous row, or null).
  void IndexJob(const v1::Job* before, const v1::Job& after) LOOM_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a finished job may leave memory: an array's tasks stay until every task ended (a
  // dependency on the array reads them all).
  // `done`: per array, whether every task is done and old enough (computed once per call).
  bool Forgettable(const v1::Job& job, int64_t now, std::map<int64_t, bool>& done) const
      LOOM_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Resolves `refs` and runs `handler` on the ids through Change; `pending_tasks`: a whole array
  // stands for its PENDING tasks only.
  template <typename Handler>
  StatusOr<std::vector<v1::Job>> ChangeJobs(const std::vector<v1::JobRef>& refs, bool pending_tasks, Handler handler);
  // Sends calls; a failed launch is the lifecycle's LAUNCH_FAILED for that node.
  void RunCalls(std::vector<lifecycle::WorkerCall> calls) LOOM_LOCKS_EXCLUDED(commit_mu_, mu_);
  void RunCall(const lifecycle::WorkerCall& call) LOOM_LOCKS_EXCLUDED(commit_mu_, mu_);

  // control_plane_views.cc: read-only views of the state (mu_ held).
  // Adds what the scheduler knows of a pending job (reason, expected start) to a copy for a reply.
  void DescribePending(v1::Job& job, bool with_factors) const;
  // The cluster's levels now, for the usage series, without rescanning every node each pass:
  // what the nodes contribute (up GPUs, their busy fractions and peak FLOP/s, which core nodes
  // count) is recounted from nodes_ only after a node changed (node_levels_stale_); a pass moves
  // only the allocation and the fragmentation, recounted from the core's node array. (A rescan of
  // nodes_ on every pass was most of loomd's CPU at 6,000 nodes and 200 submits/s.)
  acct::UsageLevels UsageLevelsNow();
  // The job's MFU per metrics bucket over its latest run with steps, oldest first.
  std::vector<double> MfuSeries(const v1::Job& job) const;
  // The policy's fair-share usage if it changed since it was last written and either it rides
  // along a commit made anyway (`with_other_writes`) or the last write is kUsageWriteIntervalMs
  // old; otherwise empty. After a successful commit of it the caller calls UsageWritten.
  std::vector<sched::TenantUsage> UsageToWrite(int64_t now, bool with_other_writes) const;
  void UsageWritten(int64_t now, std::vector<sched::TenantUsage> usage);

  const ControlPlaneOptions options_;
  const lifecycle::Lifecycle lifecycle_;
  WorkerClient* const workers_;
  Clock* const clock_;

  mutable std::mutex commit_mu_;
  std::unique_ptr<store::Store> store_ LOOM_GUARDED_BY(commit_mu_);

  mutable std::mutex mu_ LOOM_ACQUIRED_AFTER(commit_mu_);
  std::condition_variable cv_;
  std::unique_ptr<sched::SchedulerCore> core_ LOOM_GUARDED_BY(mu_);
  std::map<int64_t, v1::Job> jobs_ LOOM_GUARDED_BY(mu_);
  std::map<std::string, NodeEntry> nodes_ LOOM_GUARDED_BY(mu_);
  int64_t next_job_id_ LOOM_GUARDED_BY(mu_) = 1;
  bool dirty_ LOOM_GUARDED_BY(mu_) = true;  // a pass is due
  bool shutdown_ LOOM_GUARDED_BY(mu_) = false;
  MetricsLedger metrics_ LOOM_GUARDED_BY(mu_);
  std::set<int64_t> metrics_jobs_ LOOM_GUARDED_BY(mu_);  // step totals not yet stored
  std::optional<sched::JobRequest> smallest_pending_ LOOM_GUARDED_BY(mu_);  // as of the last pass
  // A committed node row since UsageLevelsNow (true at first: recovery loads nodes_ directly).
  bool node_levels_stale_ LOOM_GUARDED_BY(mu_) = true;
  std::vector<bool> counted_ LOOM_GUARDED_BY(mu_);      // by core NodeIndex: the node is not DOWN
  int64_t last_rollup_ms_ LOOM_GUARDED_BY(mu_) = 0;
  std::vector<sched::TenantUsage> written_usage_ LOOM_GUARDED_BY(mu_);  // as last committed
  int64_t usage_written_ms_ LOOM_GUARDED_BY(mu_) = 0;
  // For the lifecycle's View (eligibility.h): array id → its tasks' ids; PENDING jobs waiting
  // outside the core; unfinished jobs by (tenant, name), for singleton.
  std::map<int64_t, std::vector<int64_t>> arrays_ LOOM_GUARDED_BY(mu_);
  std::set<int64_t> waiting_ LOOM_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, std::set<int64_t>> named_ LOOM_GUARDED_BY(mu_);
  // Last: destroyed first, it finishes the calls it holds while the rest still exists.
  std::unique_ptr<CallDispatcher> calls_;
};

// Defined here so that each of ControlPlane's files may use it (they include state_view.h).
template <typename Decide>
inline Status ControlPlane::Change(Decide decide) {
  std::vector<lifecycle::WorkerCall> calls;
  {
    std::lock_guard<std::mutex> commit(commit_mu_);
    StatusOr<lifecycle::Edit> edit = [&]() -> StatusOr<lifecycle::Edit> {
      std::lock_guard<std::mutex> lock(mu_);
      return decide(StateView(*this), clock_->NowMs());
    }();
    if (!edit.ok()) return edit.status();
    LOOM_ASSIGN_OR_RETURN(calls, LogAndApply(std::move(*edit)));
  }
  RunCalls(std::move(calls));
  return Status::Ok();
}

}  // namespace loom
