// The job and node lifecycle: the only code that changes a job's or a node's state in loomd (and,
// later, in loom-sim). Pure, like scheduler/core: no I/O, no clock, no threads, no locks. Each
// event handler reads the current rows through a View and returns an Edit — the rows to write,
// the changes to make to the scheduler core and the calls to make to workers — which the caller
// commits, then applies, then sends (ControlPlane::LogAndApply). A handler never changes the View.
//
// Phases (derived from the job row, so a restart recovers them from the store alone):
//
//   kPending ──pass──▶ kRunning ──all ranks exit 0──────────────▶ COMPLETED ┐
//      │                  │ ──a rank exits non-zero / time limit─▶ FAILED    │ kEnding until
//      │                  │ ──cancel─────────────────────────────▶ CANCELLED │ no node runs its
//      │                  │ ──infrastructure, no requeue left────▶ NODE_FAIL ┘ ranks, then kDone
//      │                  │ ──infrastructure cause / preemption──▶ kPreempting
//      │                  │                                         │ every node quiet
//      ◀────────requeue (submit time kept)──────────────────────────┘
//      └──cancel──▶ CANCELLED (kDone)
//
// Attempts: every start is attempt n = runs_size() (1-based; the row's attempt + 1 where a store
// keeps only the latest run); Launch, Kill, exit reports and
// heartbeats name (job, attempt), and a report of another attempt than the current one changes
// nothing (the Edit carries a log line saying so). A report naming attempt 0 comes from a worker
// that predates attempts and is taken as the current attempt.
//
// Quiet nodes: a node of an attempt is quiet when its ranks are known gone — it reported their
// exit, or listed the attempt no more (register, two heartbeats), or stayed DOWN past the node
// lease (the worker kills its own ranks by then). A DOWN node is NOT quiet before its lease ends:
// a partitioned node may still run the ranks, so its GPUs stay held and the job is not requeued
// until then. That is what keeps two attempts of one job from ever running at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/store/rows.h"

namespace loom::lifecycle {

enum class Phase {
  kPending,     // queued
  kRunning,     // an attempt runs
  kPreempting,  // the attempt is being stopped to be requeued (preemption, drain --requeue or an
                // infrastructure failure on one of its nodes); requeued once every node is quiet
  kEnding,      // in a final state, some node may still run its ranks: the GPUs stay held
  kDone,        // final and released
};
Phase PhaseOf(const v1::Job& job);
const char* PhaseName(Phase p);
// Whether a Launch of `attempt` to `node` still starts something loomd wants: the attempt is
// the job's current one, running, and its ranks on `node` are not known gone.
bool LaunchWanted(const v1::Job& job, int attempt, const std::string& node);

bool IsTerminal(v1::JobState s);
// The one checked transition of a job's state; FAILED_PRECONDITION for an illegal move.
bool IsValidTransition(v1::JobState from, v1::JobState to);
Status Transition(v1::Job& job, v1::JobState to);

// True for the causes that requeue the job (up to its max_requeues) rather than end it.
bool IsInfrastructure(v1::EndCause cause);
// A job's requeue budget: no_requeue → 0, unset → `default_max`.
int MaxRequeues(const v1::JobSpec& spec, int default_max);

struct Options {
  int default_max_requeues = 5;     // Slurm's MaxBatchRequeue
  int64_t default_grace_ms = 30000; // SIGTERM → SIGKILL when the job sets no --grace
  int64_t max_grace_ms = 30000;     // cap on any job's grace (policy config `max_grace`)
  // Launch calls carry the job's row and every node's row (what a worker needs to start its
  // ranks). A caller that sends no calls (loom-sim) turns this off: for a job on N nodes the
  // copies cost O(N²), a second per start at 1,000 nodes. Only the calls' payload differs.
  bool launch_rows = true;
};

// The rows the handlers read. Implemented over loomd's maps (ControlPlane) and over plain maps
// in tests and loom-sim.
class View {
 public:
  virtual ~View() = default;
  virtual const v1::Job* job(int64_t id) const = 0;
  virtual const v1::Node* node(const std::string& name) const = 0;
  // Jobs holding GPUs on `node` (running, preempting or ending), by id.
  virtual std::vector<int64_t> JobsOn(const std::string& node) const = 0;
  // Whether the core may place jobs on `node` now.
  virtual bool Placeable(const std::string& node) const = 0;
  // For job arrays and dependencies (scheduler/lifecycle/eligibility.h). The defaults suit a
  // View without them. The ids of array `array_job_id`'s tasks, ascending.
  virtual std::vector<int64_t> ArrayTasks(int64_t /*array_job_id*/) const { return {}; }
  // PENDING jobs waiting outside the core's queue (held, dependency, array limit), ascending.
  virtual std::vector<int64_t> Waiting() const { return {}; }
  // Unfinished jobs of `tenant` named `name` (singleton), ascending. May list jobs that an
  // edit laid over the view ended: callers read each row again.
  virtual std::vector<int64_t> Named(const std::string& /*tenant*/, const std::string& /*name*/) const {
    return {};
  }
  // A handler about to change job `id`'s row asks for it here before copying it. A View whose
  // caller always installs the edit it gets, reading no row in between (loom-sim: no commit can
  // fail), may move the row into `out` and forget it until the edit brings it back: the row of
  // a job on N nodes is O(N) to copy and free, once per event of that job. The default, for
  // loomd (a failed commit must leave the rows as they were): false, and the handler copies.
  virtual bool TakeJob(int64_t /*id*/, v1::Job* /*out*/) const { return false; }
};

struct Edit;

// A View with an Edit laid over it: a handler run on it sees the edit's rows, so handlers can
// be chained into one edit (several nodes expiring at once).
class EditView final : public View {
 public:
  EditView(const View& base, const Edit& edit) : base_(base), edit_(edit) {}
  const v1::Job* job(int64_t id) const override;
  const v1::Node* node(const std::string& name) const override;
  std::vector<int64_t> JobsOn(const std::string& node) const override { return base_.JobsOn(node); }
  bool Placeable(const std::string& node) const override { return base_.Placeable(node); }
  std::vector<int64_t> ArrayTasks(int64_t array) const override;
  std::vector<int64_t> Waiting() const override;
  std::vector<int64_t> Named(const std::string& tenant, const std::string& name) const override {
    return base_.Named(tenant, name);
  }

 private:
  const View& base_;
  const Edit& edit_;
};

// A change to the scheduler core, made after the commit.
struct CoreChange {
  enum Kind {
    kAddPending,     // job (its spec's request) queued as submitted at `time`
    kRemovePending,  // cancelled while pending
    kFinish,         // its GPUs are free; fair share counts it up to `time`
    kRequeue,        // its GPUs are free, queued again as submitted at `time` (its submit time)
    kMarkPreempting, // a victim: no pass picks it again
    kSetPlaceable,   // node `node`: `placeable`
  } kind;
  int64_t job = 0;
  int64_t time = 0;
  int64_t end_time = 0;  // kRequeue: when the attempt ended (fair share)
  std::string node;
  bool placeable = false;
};

// A call to a worker, made after the commit and the apply.
struct WorkerCall {
  enum Kind { kLaunch, kKill } kind;
  std::string node;
  std::string address;
  v1::LaunchRequest launch;  // kLaunch
  v1::KillRequest kill;      // kKill: names the attempt; grace_ms for SIGTERM → SIGKILL
};

struct Edit {
  std::map<int64_t, v1::Job> jobs;        // rows to write (they replace the current ones)
  std::map<std::string, v1::Node> nodes;  // rows to write
  std::vector<store::Event> events;
  std::vector<CoreChange> core;
  std::vector<WorkerCall> calls;
  std::vector<std::string> log;           // for the caller's log (stale reports, state changes)

  bool writes() const { return !jobs.empty() || !nodes.empty() || !events.empty(); }
  bool empty() const { return !writes() && core.empty() && calls.empty() && log.empty(); }
  // Appends `other` (later handlers see this edit's rows through Current()).
  void Merge(Edit other);
};

// Applies an edit's core changes. kAddPending needs the job's row (for its request): from the
// edit. Errors are returned after every change was tried (they mean a row and the core disagree).
Status ApplyToCore(const Edit& edit, sched::SchedulerCore& core);

// Heartbeat bookkeeping kept by the caller between heartbeats (not persisted): how many
// consecutive heartbeats of a node left out a job loomd holds running there.
using MissCounts = std::map<int64_t, int>;

class Lifecycle {
 public:
  explicit Lifecycle(Options options = {}) : options_(options) {}
  const Options& options() const { return options_; }

  // --- jobs
  // `job` is a new, validated row (id, spec, submit time set): PENDING and queued.
  Edit OnSubmit(v1::Job job, int64_t now) const;
  // New, validated rows submitted together (one job, or every task of an array, ids ascending;
  // dependencies resolved): PENDING, queued or waiting (held, dependency, array limit) as
  // eligibility.h decides; a dependency that can never hold cancels the job at once.
  Edit OnSubmitAll(const View& view, std::vector<v1::Job> jobs, int64_t now) const;
  // loom hold / loom release. FAILED_PRECONDITION (nothing changed) if a job is not PENDING,
  // NOT_FOUND for an unknown one. Released jobs join the queue keeping their submit time, once
  // their dependencies and their array's limit allow.
  StatusOr<Edit> OnHold(const View& view, const std::vector<int64_t>& jobs, int64_t now) const;
  StatusOr<Edit> OnRelease(const View& view, const std::vector<int64_t>& jobs, int64_t now) const;
  // Cancels every unfinished job of `jobs` (an array's tasks) in one edit; finished ones are
  // skipped. FAILED_PRECONDITION if none is unfinished, NOT_FOUND for an unknown one.
  StatusOr<Edit> OnCancelAll(const View& view, const std::vector<int64_t>& jobs, int64_t now) const;
  // Re-evaluates the waiting jobs after `edit` (laid over `view`): queues those now eligible,
  // cancels those whose dependency can never hold (and so on, until nothing changes). Appends
  // to `edit`. Called for every edit that ends or releases a job, and once after a restart.
  void Wake(const View& view, Edit& edit, int64_t now) const;
  // The core started `starts` (its GPUs are already held in the core; on a failed commit the
  // caller undoes them) and decided `preemptions`. Launch calls for every node of every start.
  Edit OnPass(const View& view, const sched::Cluster& cluster, const sched::PassResult& pass,
              int64_t now) const;
  // FAILED_PRECONDITION for a finished job, NOT_FOUND for an unknown one.
  StatusOr<Edit> OnCancel(const View& view, int64_t job, int64_t now) const;
  // A worker reports that the ranks of (job, attempt) on `node` exited. Unknown jobs and other
  // attempts than the current one are acknowledged with a log line and change nothing.
  Edit OnRanksExited(const View& view, const v1::ReportJobExitRequest& report, int64_t now) const;
  // Several reports at one instant, as one edit: the same outcome as handling them one after
  // the other, but a job's row is copied once and settled once (O(N) for N nodes, not O(N²)).
  Edit OnRanksExited(const View& view, const std::vector<v1::ReportJobExitRequest>& reports,
                     int64_t now) const;
  // The ranks of (report.job_id, report.attempt) exited as `report` says (its node unused) on
  // every node of the attempt that still ran them and is not DOWN: the reports of all reachable
  // workers after a job-wide end or kill, in one pass over the job's nodes (no per-node report).
  // Decides as those reports one by one would.
  Edit OnAttemptExited(const View& view, const v1::ReportJobExitRequest& report, int64_t now) const;
  // The ranks of (job, attempt) on `node` are gone without an exit report, for `cause`
  // (WORKER_LOST, LAUNCH_FAILED, NODE_FAIL after the lease).
  Edit OnRanksGone(const View& view, int64_t job, int attempt, const std::string& node,
                   v1::EndCause cause, const std::string& detail, int64_t now) const;
  // The Launch of (job, attempt) to `node` failed without a refusal (timed out, connection
  // lost): its ranks may run there or not. The attempt stops (LAUNCH_FAILED) and the node is
  // fenced; its ranks there count as gone only once its heartbeats (their launch mark past
  // this Launch) leave them out, or its exit report comes, or its lease ends.
  Edit OnLaunchUncertain(const View& view, int64_t job, int attempt, const std::string& node,
                         const std::string& detail, int64_t now) const;

  // --- nodes
  // `node` stopped heartbeating: DOWN, its attempts stop (requeue or NODE_FAIL) but its GPUs stay
  // held until its lease ends (OnLeaseExpired) or it re-registers without them.
  Edit OnNodeExpired(const View& view, const std::string& node, int64_t now) const;
  // `node` stayed DOWN past the node lease: its ranks are presumed gone.
  Edit OnLeaseExpired(const View& view, const std::string& node, int64_t now) const;
  // A worker (re-)registered as `in` listing the attempts it still runs. Attempts loomd holds
  // there that it does not list are gone (WORKER_LOST); attempts it lists that loomd does not
  // hold there are killed by the next heartbeat, and until a heartbeat lists none of them the
  // node is not placeable (a healed partition's old ranks must be gone before its GPUs return).
  Edit OnRegister(const View& view, const v1::Node& in, const std::vector<v1::JobAttempt>& running,
                  int64_t now) const;
  // A heartbeat from a registered node: reconciliation both ways and its health. `misses` is
  // the caller's count of heartbeats that left each held job out, updated here; `unmarked` are
  // the jobs whose Launch to this node the worker may not have processed yet (its launch mark
  // is below their Launch's number): leaving them out is no miss.
  struct HeartbeatResult {
    Edit edit;
    std::vector<v1::JobAttempt> kill;  // for the heartbeat reply
  };
  HeartbeatResult OnHeartbeat(const View& view, const std::string& node,
                              const std::vector<v1::JobAttempt>& running,
                              const v1::NodeHealth& health, const std::vector<int64_t>& unmarked,
                              MissCounts& misses, int64_t now) const;
  // NOT_FOUND for an unknown node (nothing changed). With `requeue`, the nodes' running jobs are
  // stopped (SIGTERM, grace) and requeued (cause HEALTH_DRAIN).
  StatusOr<Edit> OnDrain(const View& view, const std::vector<std::string>& nodes,
                         const std::string& reason, bool requeue, int64_t now) const;
  StatusOr<Edit> OnResume(const View& view, const std::vector<std::string>& nodes,
                          int64_t now) const;

  // Grace between SIGTERM and SIGKILL for `job`: its --grace (or the default), capped.
  int64_t GraceMs(const v1::Job& job) const;

 private:
  Options options_;
};

}  // namespace loom::lifecycle
