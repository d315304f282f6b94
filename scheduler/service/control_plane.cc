#include "scheduler/service/control_plane.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "common/metrics/registry.h"
#include "common/task_layout.h"
#include "scheduler/lifecycle/translate.h"
#include "scheduler/policies/registry.h"
#include "scheduler/service/state_view.h"

namespace loom {
namespace {
// A node's ranks are presumed gone this long after its lease ends: its supervisors check the
// lease every 100 ms and SIGKILL at once, and the worker's lease counts from a little later than
// loomd's last sight of it (the reply's trip).
constexpr int64_t kLeaseKillSlackMs = 500;
}  // namespace
namespace {

using lifecycle::Edit;
using lifecycle::WorkerCall;

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

store::FairShareUsage ToStore(const sched::TenantUsage& u) { return {u.tenant, u.gpu_ms, u.as_of}; }
sched::TenantUsage FromStore(const store::FairShareUsage& u) { return {u.tenant, u.gpu_ms, u.as_of_ms}; }

constexpr int64_t kRollUpEveryMs = 3600 * 1000;

// Refuses durations whose milliseconds would overflow (or that no cluster means).
Status CheckDuration(int64_t seconds, const char* what) {
  if (seconds < 0) return InvalidArgument(std::string(what) + " must not be negative");
  if (seconds > lifecycle::kMaxDurationS) {
    return InvalidArgument(std::string(what) + " must be at most " +
                           std::to_string(lifecycle::kMaxDurationS) + " s (a year)");
  }
  return Status::Ok();
}

Status CheckSpec(const v1::JobSpec& spec) {
  if (spec.command().empty() || spec.command(0).empty()) {
    return InvalidArgument("a job needs a command to run (loom submit ... -- PROGRAM ARGS)");
  }
  LOOM_RETURN_IF_ERROR(CheckDuration(spec.time_limit_s(), "time limit"));
  LOOM_RETURN_IF_ERROR(CheckDuration(spec.leaf_wait_s(), "leaf wait"));
  LOOM_RETURN_IF_ERROR(CheckDuration(spec.grace_s(), "grace"));
  LOOM_RETURN_IF_ERROR(CheckDuration(spec.signal_before_s(), "signal lead time"));
  if (spec.signal() < 0 || spec.signal() > 64) return InvalidArgument("signal must be 1..64");
  if (spec.has_max_requeues() && spec.max_requeues() < 0) {
    return InvalidArgument("max requeues must not be negative");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Create(std::unique_ptr<store::Store> store,
                                                             WorkerClient* workers, Clock* clock,
                                                             ControlPlaneOptions options) {
  LOOM_ASSIGN_OR_RETURN(auto policy, sched::MakePolicy(options.policy, options.policy_settings));
  auto core = std::make_unique<sched::SchedulerCore>(std::move(policy));
  std::unique_ptr<ControlPlane> cp(
      new ControlPlane(std::move(store), workers, clock, std::move(options), std::move(core)));
  LOOM_RETURN_IF_ERROR(cp->Recover());
  return cp;
}

ControlPlane::ControlPlane(std::unique_ptr<store::Store> store, WorkerClient* workers, Clock* clock,
                           ControlPlaneOptions options, std::unique_ptr<sched::SchedulerCore> core)
    : options_(std::move(options)),
      lifecycle_(options_.lifecycle),
      workers_(workers),
      clock_(clock),
      store_(std::move(store)),
      core_(std::move(core)),
      metrics_(options_.metrics_bucket_ms),
      calls_(options_.worker_call_threads > 0
                 ? std::unique_ptr<CallDispatcher>(new PooledDispatcher(options_.worker_call_threads))
                 : std::unique_ptr<CallDispatcher>(new InlineDispatcher())) {}

Status ControlPlane::Recover() {
  std::lock_guard<std::mutex> commit(commit_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMs();
  LOOM_ASSIGN_OR_RETURN(auto nodes, store_->LoadNodes());
  for (v1::Node& n : nodes) {
    LOOM_ASSIGN_OR_RETURN(sched::NodeIndex index,
                          core_->cluster().UpsertNode(n.name(), n.gpus_size(),
                                                      {n.labels().begin(), n.labels().end()}));
    // Not placeable until its worker registers again; it has one timeout to do so (and its
    // lease, counted from now, before its GPUs return).
    core_->cluster().SetUp(index, false);
    // The name is copied first: in `map[key] = value` the value is evaluated (and `n` moved)
    // before the key — the cause of the empty-named "node  is DOWN" after a restart.
    const std::string name = n.name();
    nodes_[name] = NodeEntry{.node = std::move(n), .last_seen_ms = now};
  }
  LOOM_ASSIGN_OR_RETURN(auto jobs, store_->LoadJobs());
  std::vector<int64_t> unrecoverable;
  for (v1::Job& job : jobs) {
    next_job_id_ = std::max(next_job_id_, job.id() + 1);
    int64_t id = job.id();
    const lifecycle::Phase phase = lifecycle::PhaseOf(job);
    if (phase == lifecycle::Phase::kPending) {
      // Held, dependency and array-limit waiters stay out of the core (eligibility.h).
      if (job.wait() == v1::WAIT_NONE) {
        LOOM_ASSIGN_OR_RETURN(sched::JobRequest r, lifecycle::RequestOf(job.spec()));
        LOOM_RETURN_IF_ERROR(core_->AddPending(id, r, job.submit_time_ms()));
      }
    } else if (phase != lifecycle::Phase::kDone) {
      auto allocation = lifecycle::AllocationOf(job, core_->cluster());
      Status s = allocation.ok() ? core_->Adopt(id, *allocation, lifecycle::RequestFromSpec(job.spec()),
                                                job.start_time_ms())
                                 : allocation.status();
      // An attempt being stopped before the restart goes on: its kills are re-sent when the
      // nodes re-register (and with each heartbeat), and it is requeued once they report.
      if (s.ok() && phase == lifecycle::Phase::kPreempting) core_->MarkPreempting(id);
      if (!s.ok()) {  // a record we cannot re-adopt ends, visibly, rather than holding GPUs forever
        job.set_state(v1::FAILED);
        job.set_reason("RecoveryFailed: " + s.message());
        job.set_end_time_ms(now);
        job.set_released(true);
        if (job.runs_size() > 0 && job.runs(job.runs_size() - 1).end_ms() == 0) {
          job.mutable_runs(job.runs_size() - 1)->set_end_ms(now);
          job.mutable_runs(job.runs_size() - 1)->set_lost(true);
        }
        unrecoverable.push_back(id);
      }
    }
    IndexJob(nullptr, job);
    jobs_[id] = std::move(job);
  }
  // Fair share resumes where it was: usage decays from when it was saved, and the re-adopted
  // jobs accrue from then.
  LOOM_ASSIGN_OR_RETURN(auto saved, store_->LoadFairShareUsage());
  for (const store::FairShareUsage& u : saved) written_usage_.push_back(FromStore(u));
  core_->RestoreUsage(written_usage_);
  usage_written_ms_ = now;
  // Waiting jobs whose dependencies ended before the restart (a commit that ended them whose
  // wake-up did not happen, e.g. an older loomd) are settled now.
  lifecycle::Edit woken;
  lifecycle_.Wake(StateView(*this), woken, now);
  for (auto& [id, row] : woken.jobs) {
    auto it = std::find(unrecoverable.begin(), unrecoverable.end(), id);
    if (it != unrecoverable.end()) unrecoverable.erase(it);
  }
  store::Batch batch;
  for (int64_t id : unrecoverable) batch.jobs.push_back(&jobs_[id]);
  for (const auto& [id, row] : woken.jobs) batch.jobs.push_back(&row);
  batch.events = woken.events;
  LOOM_RETURN_IF_ERROR(store_->Commit(batch));
  if (Status s = lifecycle::ApplyToCore(woken, *core_); !s.ok()) return s;
  for (auto& [id, row] : woken.jobs) {
    IndexJob(&jobs_[id], row);
    jobs_[id] = std::move(row);
  }
  return Status::Ok();
}

namespace {
// Prometheus counters of preemptions and requeues, by cause, from a job row before and after a
// committed edit (the lifecycle stays free of metrics).
void CountRequeues(const v1::Job* before, const v1::Job& after) {
  if (after.preempted_for() != 0 && (before == nullptr || before->preempted_for() == 0)) {
    metrics::Counter("loom_preemptions_total", "Jobs told to stop for a higher-QoS job, by cause", {"cause"})
        .Inc({"qos"});
  }
  const int before_preemptions = before ? before->preemptions() : 0;
  const int before_requeues = before ? before->requeues() : 0;
  if (after.preemptions() <= before_preemptions && after.requeues() <= before_requeues) return;
  std::string cause = "preempted";
  if (after.requeues() > before_requeues && after.runs_size() > 0) {
    cause = v1::EndCause_Name(after.runs(after.runs_size() - 1).cause());
    if (cause.rfind("CAUSE_", 0) == 0) cause = cause.substr(6);
    std::transform(cause.begin(), cause.end(), cause.begin(), ::tolower);
  }
  metrics::Counter("loom_requeues_total", "Jobs put back in the queue, by cause", {"cause"}).Inc({cause});
}
}  // namespace

void ControlPlane::MarkDirty() {
  dirty_ = true;
  cv_.notify_all();
}

StatusOr<std::vector<WorkerCall>> ControlPlane::LogAndApply(Edit edit, const store::Batch& extra) {
  // A job that ended (or released its GPUs) may let waiting jobs go: the lifecycle re-evaluates
  // them in the same commit. No writer changes rows meanwhile: the caller holds commit_mu_.
  const bool ends = std::any_of(edit.jobs.begin(), edit.jobs.end(),
                                [](const auto& row) { return lifecycle::IsTerminal(row.second.state()); });
  if (ends) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!waiting_.empty()) lifecycle_.Wake(StateView(*this), edit, clock_->NowMs());
  }
  store::Batch batch = extra;
  for (const auto& [id, job] : edit.jobs) batch.jobs.push_back(&job);
  for (const auto& [name, node] : edit.nodes) batch.nodes.push_back(&node);
  batch.events.insert(batch.events.end(), edit.events.begin(), edit.events.end());
  // The fsync happens here, with mu_ free: heartbeats and reads go on meanwhile. No other writer
  // can change the rows this edit was computed from: the caller holds commit_mu_.
  if (Status s = store_->Commit(batch); !s.ok()) {
    std::fprintf(stderr, "loomd: cannot record a change, nothing applied: %s\n", s.ToString().c_str());
    return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = lifecycle::ApplyToCore(edit, *core_); !s.ok()) {
    std::fprintf(stderr, "loomd: core and records disagree: %s\n", s.ToString().c_str());
  }
  const bool changed = edit.writes() || !edit.core.empty();
  for (auto& [id, job] : edit.jobs) {
    auto old = jobs_.find(id);
    CountRequeues(old == jobs_.end() ? nullptr : &old->second, job);
    IndexJob(old == jobs_.end() ? nullptr : &old->second, job);
    jobs_[id] = std::move(job);
  }
  for (auto& [name, node] : edit.nodes) nodes_[name].node = std::move(node);
  if (!edit.nodes.empty()) node_levels_stale_ = true;  // registrations write their row too
  for (const std::string& line : edit.log) std::fprintf(stderr, "%s\n", line.c_str());
  if (changed) MarkDirty();
  // Stamped now, under commit_mu_, which Register also holds while it records a new registration:
  // a Launch carries the registration its decision saw, however late RunCalls sends it.
  // Numbered now too, in decision order: RunCalls may send them late or out of order, and the
  // worker's fence refuses those loomd was done with by then.
  for (WorkerCall& call : edit.calls) {
    if (call.kind != WorkerCall::kLaunch) continue;
    auto n = nodes_.find(call.node);
    if (n == nodes_.end()) continue;
    NodeEntry& entry = n->second;
    const uint64_t seq = ++entry.launch_seq;
    call.launch.set_registration(entry.registration);
    call.launch.set_launch_seq(seq);
    entry.launches_in_flight.insert(seq);
    entry.unmarked_launches[call.launch.job().id()] = seq;
  }
  return std::move(edit.calls);
}

// ---------------------------------------------------------------------------------------------
// CLI

StatusOr<int64_t> ControlPlane::Submit(v1::JobSpec spec) {
  LOOM_RETURN_IF_ERROR(CheckSpec(spec));
  if (spec.name().empty()) spec.set_name(Basename(spec.command(0)));
  if (spec.tenant().empty()) spec.set_tenant("default");
  if (spec.time_limit_s() == 0) spec.set_time_limit_s(options_.default_time_limit_ms / 1000);

  int64_t id = 0, count = 0;
  std::lock_guard<std::mutex> commit(commit_mu_);
  Edit edit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    LOOM_ASSIGN_OR_RETURN(sched::JobRequest request,
                          core_->Normalize(lifecycle::RequestFromSpec(spec)));
    spec.set_gpus_per_node(request.gpus_per_node);
    LOOM_RETURN_IF_ERROR(CheckTaskLayout(spec.gpus_per_node(), spec.tasks_per_node()));
    std::map<int64_t, v1::Job> extra;  // finished jobs that only the store still has
    LOOM_RETURN_IF_ERROR(ResolveDependencies(spec, extra));
    id = next_job_id_;
    LOOM_ASSIGN_OR_RETURN(std::vector<v1::Job> rows, MakeRows(spec));
    count = static_cast<int64_t>(rows.size());
    edit = lifecycle_.OnSubmitAll(ExtraRowsView(StateView(*this), extra), std::move(rows), clock_->NowMs());
  }
  LOOM_ASSIGN_OR_RETURN(auto calls, LogAndApply(std::move(edit)));
  std::lock_guard<std::mutex> lock(mu_);
  next_job_id_ = std::max(next_job_id_, id + count);
  return id;
}

int ControlPlane::ForgetFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMs();
  int forgotten = 0;
  std::map<int64_t, bool> arrays_done;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const v1::Job& job = it->second;
    const bool old = lifecycle::PhaseOf(job) == lifecycle::Phase::kDone && job.end_time_ms() > 0 &&
                     now - job.end_time_ms() > options_.min_job_age_ms;
    if (old && !metrics_jobs_.count(job.id()) && Forgettable(job, now, arrays_done)) {  // step totals not yet stored keep it a while
      if (int64_t array = job.array().array_job_id()) {  // its tasks all go in this call
        auto tasks = arrays_.find(array);
        if (tasks != arrays_.end() && tasks->second.back() == job.id()) arrays_.erase(tasks);
      }
      it = jobs_.erase(it);
      ++forgotten;
    } else {
      ++it;
    }
  }
  return forgotten;
}

StatusOr<v1::Job> ControlPlane::Cancel(int64_t id) {
  LOOM_RETURN_IF_ERROR(Change([&](const StateView& view, int64_t now) {
    return lifecycle_.OnCancel(view, id, now);
  }));
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.at(id);
}

StatusOr<std::vector<v1::Node>> ControlPlane::Drain(const v1::DrainRequest& request) {
  const std::vector<std::string> names(request.nodes().begin(), request.nodes().end());
  LOOM_RETURN_IF_ERROR(Change([&](const StateView& view, int64_t now) {
    return lifecycle_.OnDrain(view, names, request.reason(), request.requeue(), now);
  }));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Node> out;
  for (const std::string& n : names) out.push_back(nodes_.at(n).node);
  return out;
}

StatusOr<std::vector<v1::Node>> ControlPlane::Resume(const v1::ResumeRequest& request) {
  const std::vector<std::string> names(request.nodes().begin(), request.nodes().end());
  LOOM_RETURN_IF_ERROR(Change([&](const StateView& view, int64_t now) {
    return lifecycle_.OnResume(view, names, now);
  }));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Node> out;
  for (const std::string& n : names) out.push_back(nodes_.at(n).node);
  return out;
}

StatusOr<v1::ReadLogReply> ControlPlane::ReadLog(const v1::ReadLogRequest& request) {
  std::string address;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(request.job_id());
    if (it == jobs_.end()) return NotFound("no job " + std::to_string(request.job_id()));
    const v1::Job& job = it->second;
    if (job.allocation().empty()) {
      return FailedPrecondition("job " + std::to_string(job.id()) + " has not started: no output yet");
    }
    const TaskLayout layout = LayoutOf(job.allocation_size(), job.spec().gpus_per_node(), job.spec().tasks_per_node());
    const int world = job.spec().mpi() ? 1 : layout.tasks();
    if (request.rank() < 0 || request.rank() >= world) {
      return InvalidArgument(job.spec().mpi()
                                 ? "MPI jobs keep every rank's output in rank 0 (mpirun gathers it)"
                                 : "job " + std::to_string(job.id()) + " has ranks 0.." +
                                       std::to_string(world - 1));
    }
    const std::string& node = job.allocation(layout.NodeOfTask(request.rank())).node();
    auto n = nodes_.find(node);
    if (n == nodes_.end()) return NotFound("node " + node + " is unknown");
    address = n->second.node.address();
  }
  return workers_->ReadLog(address, request);
}

// ---------------------------------------------------------------------------------------------
// Scheduling and liveness

bool ControlPlane::WaitForWork(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return dirty_ || shutdown_; });
  return dirty_ && !shutdown_;
}

void ControlPlane::FlushMetrics(bool everything) {
  std::lock_guard<std::mutex> commit(commit_mu_);
  const int64_t now = clock_->NowMs();
  store::Batch batch;
  std::vector<v1::Job> rows;  // copies: the batch must not point into jobs_ while mu_ is free
  {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.Flush(now, everything, batch);
    for (int64_t id : metrics_jobs_) rows.push_back(jobs_[id]);
  }
  for (const v1::Job& job : rows) batch.jobs.push_back(&job);
  if (!batch.empty()) {
    if (Status s = store_->Commit(batch); !s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      metrics_.Restore(batch);
      std::fprintf(stderr, "loomd: cannot record metrics, retrying: %s\n", s.ToString().c_str());
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    metrics_jobs_.clear();  // ReportSteps holds commit_mu_ too: none arrived meanwhile
  }
  if (now - last_rollup_ms_ >= kRollUpEveryMs) {
    last_rollup_ms_ = now;
    if (Status s = store_->RollUp(now, options_.metrics_rollup); !s.ok()) {
      std::fprintf(stderr, "loomd: cannot roll metrics up: %s\n", s.ToString().c_str());
    }
  }
}

void ControlPlane::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

int ControlPlane::SchedulePass(bool force) {
  std::vector<WorkerCall> calls;
  int started = 0;
  {
    std::lock_guard<std::mutex> commit(commit_mu_);
    sched::PassResult pass;
    Edit edit;
    store::Batch extra;
    std::vector<sched::TenantUsage> usage;
    const int64_t now = clock_->NowMs();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!dirty_ && !force) return 0;
      dirty_ = false;
      pass = core_->Schedule(now);
      // Every change of the levels (starts, releases, nodes, the queue) marks a pass due.
      smallest_pending_ = core_->SmallestPending();
      metrics_.SetLevels(now, UsageLevelsNow());
      const bool decided = !pass.starts.empty() || !pass.preemptions.empty();
      usage = UsageToWrite(now, decided);
      if (decided) edit = lifecycle_.OnPass(StateView(*this), core_->cluster(), pass, now);
    }
    for (const sched::TenantUsage& u : usage) extra.fair_share_usage.push_back(ToStore(u));
    auto applied = LogAndApply(std::move(edit), extra);
    std::lock_guard<std::mutex> lock(mu_);
    if (!applied.ok()) {
      // Nothing was recorded, so nothing starts: give the GPUs back and keep the jobs queued.
      // (Preemptions not recorded are not sent; the core plans them again in a later pass.)
      for (const sched::StartDecision& d : pass.starts) {
        core_->Finish(d.id);
        (void)core_->AddPending(d.id, *lifecycle::RequestOf(jobs_[d.id].spec()),
                                jobs_[d.id].submit_time_ms());
      }
      dirty_ = true;
      return 0;
    }
    UsageWritten(now, std::move(usage));
    calls = std::move(*applied);
    started = static_cast<int>(pass.starts.size());
  }
  RunCalls(std::move(calls));
  return started;
}

void ControlPlane::CheckLiveness() {
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> commit(commit_mu_);
    Edit edit;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t now = clock_->NowMs();
      StateView state(*this);
      for (const auto& [name, entry] : nodes_) {
        const int64_t silent = now - entry.last_seen_ms;
        lifecycle::EditView view(state, edit);  // sees what earlier nodes changed
        if (entry.node.state() != v1::DOWN && silent > options_.node_timeout_ms) {
          edit.Merge(lifecycle_.OnNodeExpired(view, name, now));
        } else if (entry.node.state() == v1::DOWN && silent > options_.lease_ms() + kLeaseKillSlackMs) {
          edit.Merge(lifecycle_.OnLeaseExpired(view, name, now));
        }
      }
    }
    if (edit.empty()) return;
    auto applied = LogAndApply(std::move(edit));
    if (!applied.ok()) return;  // nothing changed; the next check tries again
    calls = std::move(*applied);
  }
  RunCalls(std::move(calls));
}

}  // namespace loom
