#include "scheduler/service/control_plane.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/gpu_models.h"
#include "common/metrics/registry.h"
#include "scheduler/core/job_state.h"
#include "scheduler/policies/registry.h"

namespace loom {
namespace {

using sched::JobState;

JobState ToCore(v1::JobState s) {
  switch (s) {
    case v1::PENDING: return JobState::kPending;
    case v1::RUNNING: return JobState::kRunning;
    case v1::COMPLETED: return JobState::kCompleted;
    case v1::FAILED: return JobState::kFailed;
    case v1::CANCELLED: return JobState::kCancelled;
    default: return JobState::kFailed;
  }
}

bool IsTerminal(v1::JobState s) { return sched::IsTerminal(ToCore(s)); }

// Applies a state change through the core's state machine.
Status Transition(v1::Job& job, v1::JobState to) {
  LOOM_RETURN_IF_ERROR(sched::CheckTransition(job.id(), ToCore(job.state()), ToCore(to)));
  job.set_state(to);
  return Status::Ok();
}

bool HasNode(const v1::Job& job, const std::string& node) {
  for (const auto& a : job.allocation()) {
    if (a.node() == node) return true;
  }
  return false;
}

bool HasExited(const v1::Job& job, const std::string& node) {
  const auto& exited = job.exited_nodes();
  return std::find(exited.begin(), exited.end(), node) != exited.end();
}

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What the scheduler core needs of a spec; the spec may not be normalised yet.
sched::JobRequest RequestFromSpec(const v1::JobSpec& spec) {
  sched::JobRequest r;
  r.gpus = spec.gpus();
  r.gpus_per_node = spec.gpus_per_node();
  r.priority = spec.priority();
  r.time_limit_ms = spec.time_limit_s() * 1000;
  r.tenant = spec.tenant();
  r.qos = spec.qos();
  switch (spec.leaf()) {
    case v1::LEAF_PREFER_ONE: r.leaf = sched::LeafConstraint::kPreferOne; break;
    case v1::LEAF_REQUIRE_ONE: r.leaf = sched::LeafConstraint::kRequireOne; break;
    default: r.leaf = sched::LeafConstraint::kFewest; break;
  }
  r.one_leaf_wait_ms = spec.leaf_wait_s() * 1000;
  return r;
}

// The peak a worker declared for a GPU, or its model's catalog figure; FLOP/s.
double PeakFlops(const v1::Gpu& gpu) {
  if (gpu.peak_tflops() > 0) return gpu.peak_tflops() * 1e12;
  const GpuModel* model = FindGpuModel(gpu.model());
  return model ? model->bf16_dense_tflops * 1e12 : 0;
}

// Closes a job's current run, if it has one open.
void EndRun(v1::Job& job, int64_t now, bool lost) {
  if (job.runs_size() == 0 || job.runs(job.runs_size() - 1).end_ms() != 0) return;
  v1::JobRun* run = job.mutable_runs(job.runs_size() - 1);
  run->set_end_ms(now);
  run->set_lost(lost);
}

constexpr int64_t kRollUpEveryMs = 3600 * 1000;
constexpr int kMfuSeriesLength = 60;
store::FairShareUsage ToStore(const sched::TenantUsage& u) { return {u.tenant, u.gpu_ms, u.as_of}; }
sched::TenantUsage FromStore(const store::FairShareUsage& u) { return {u.tenant, u.gpu_ms, u.as_of_ms}; }

// Fair-share usage decays over days: a pass that commits nothing else writes it at most this
// often, so an idle-but-busy cluster does not sync the database on every pass.
constexpr int64_t kUsageWriteIntervalMs = 5000;

constexpr int kMasterPortBase = 20000;
constexpr int kMasterPortRange = 10000;

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
      store_(std::move(store)),
      workers_(workers),
      clock_(clock),
      core_(std::move(core)),
      metrics_(options_.metrics_bucket_ms) {}

Status ControlPlane::Recover() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMs();
  LOOM_ASSIGN_OR_RETURN(auto nodes, store_->LoadNodes());
  for (v1::Node& n : nodes) {
    LOOM_ASSIGN_OR_RETURN(sched::NodeIndex index,
                          core_->cluster().UpsertNode(n.name(), n.gpus_size(),
                                                      {n.labels().begin(), n.labels().end()}));
    // Not placeable until its worker registers again; it has one timeout to do so.
    core_->cluster().SetUp(index, false);
    nodes_[n.name()] = NodeEntry{std::move(n), "", now};
  }
  LOOM_ASSIGN_OR_RETURN(auto jobs, store_->LoadJobs());
  std::vector<int64_t> unrecoverable;
  for (v1::Job& job : jobs) {
    next_job_id_ = std::max(next_job_id_, job.id() + 1);
    int64_t id = job.id();
    if (job.state() == v1::PENDING) {
      LOOM_ASSIGN_OR_RETURN(sched::JobRequest r, RequestOf(job.spec()));
      LOOM_RETURN_IF_ERROR(core_->AddPending(id, r, job.submit_time_ms()));
    } else if (job.state() == v1::RUNNING || (!job.released() && job.allocation_size() > 0)) {
      auto allocation = AllocationOf(job);
      Status s = allocation.ok() ? core_->Adopt(id, *allocation, RequestFromSpec(job.spec()), job.start_time_ms())
                                 : allocation.status();
      // A preemption decided before the restart goes on: its kills are re-sent when the nodes
      // re-register (and with each heartbeat), and it is requeued once they report.
      if (s.ok() && job.state() == v1::RUNNING && job.preempted_for() != 0) core_->MarkPreempting(id);
      if (!s.ok()) {  // a record we cannot re-adopt ends, visibly, rather than holding GPUs forever
        job.set_state(v1::FAILED);
        job.set_reason("RecoveryFailed: " + s.message());
        job.set_end_time_ms(now);
        EndRun(job, now, /*lost=*/true);
        unrecoverable.push_back(id);
      }
    }
    jobs_[id] = std::move(job);
  }
  // Fair share resumes where it was: usage decays from when it was saved, and the re-adopted
  // jobs accrue from then.
  LOOM_ASSIGN_OR_RETURN(auto saved, store_->LoadFairShareUsage());
  for (const store::FairShareUsage& u : saved) written_usage_.push_back(FromStore(u));
  core_->RestoreUsage(written_usage_);
  usage_written_ms_ = now;
  store::Batch batch;
  for (int64_t id : unrecoverable) batch.jobs.push_back(&jobs_[id]);
  return store_->Commit(batch);
}

StatusOr<sched::JobRequest> ControlPlane::RequestOf(const v1::JobSpec& spec) const {
  sched::JobRequest r = RequestFromSpec(spec);
  if (r.gpus_per_node <= 0 || r.gpus % r.gpus_per_node != 0) {
    return Internal("stored job spec is not normalised");
  }
  return r;
}

StatusOr<sched::Allocation> ControlPlane::AllocationOf(const v1::Job& job) const {
  sched::Allocation allocation;
  const bool exclusive = job.allocation_size() > 1;
  for (const auto& a : job.allocation()) {
    auto index = core_->cluster().Find(a.node());
    if (!index) return NotFound("node " + a.node() + " of job " + std::to_string(job.id()) + " is unknown");
    sched::GpuMask mask = 0;
    for (int g : a.gpu_indices()) {
      if (g < 0 || g >= sched::kMaxGpusPerNode) return Internal("GPU index out of range");
      mask |= sched::GpuMask{1} << g;
    }
    allocation.push_back({*index, mask, exclusive});
  }
  return allocation;
}

void ControlPlane::FillAllocation(const sched::Allocation& allocation, v1::Job& job) const {
  job.clear_allocation();
  for (const sched::NodeGrant& g : allocation) {
    auto* a = job.add_allocation();
    a->set_node(core_->cluster().node(g.node).name);
    for (int index : sched::MaskToIndices(g.gpus)) a->add_gpu_indices(index);
  }
}

void ControlPlane::MarkDirty() {
  dirty_ = true;
  cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// CLI

StatusOr<int64_t> ControlPlane::Submit(v1::JobSpec spec) {
  if (spec.command().empty() || spec.command(0).empty()) {
    return InvalidArgument("a job needs a command to run (loom submit ... -- PROGRAM ARGS)");
  }
  if (spec.time_limit_s() < 0) return InvalidArgument("time limit must not be negative");
  if (spec.name().empty()) spec.set_name(Basename(spec.command(0)));
  if (spec.tenant().empty()) spec.set_tenant("default");
  if (spec.time_limit_s() == 0) spec.set_time_limit_s(options_.default_time_limit_ms / 1000);

  std::lock_guard<std::mutex> lock(mu_);
  LOOM_ASSIGN_OR_RETURN(sched::JobRequest request, core_->Normalize(RequestFromSpec(spec)));
  spec.set_gpus_per_node(request.gpus_per_node);

  const int64_t now = clock_->NowMs();
  v1::Job job;
  job.set_id(next_job_id_);
  *job.mutable_spec() = std::move(spec);
  job.set_state(v1::PENDING);
  job.set_submit_time_ms(now);
  job.set_eligible_time_ms(now);
  job.set_master_port(kMasterPortBase + static_cast<int>(job.id() % kMasterPortRange));
  store::Batch batch;
  batch.jobs = {&job};
  batch.events = {{now, job.id(), "", "submitted"}};
  LOOM_RETURN_IF_ERROR(store_->Commit(batch));

  ++next_job_id_;
  LOOM_RETURN_IF_ERROR(core_->AddPending(job.id(), request, now));
  int64_t id = job.id();
  jobs_[id] = std::move(job);
  MarkDirty();
  return id;
}

StatusOr<v1::Job> ControlPlane::GetJob(int64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFound("no job " + std::to_string(id));
  v1::Job job = it->second;
  DescribePending(job, /*with_factors=*/true);
  for (double mfu : MfuSeries(job)) job.add_mfu_series(mfu);
  return job;
}

std::vector<double> ControlPlane::MfuSeries(const v1::Job& job) const {
  int run = job.runs_size() - 1;
  while (run >= 0 && job.runs(run).steps() == 0) --run;
  if (run < 0 || job.runs(run).peak_flops() <= 0) return {};
  const v1::JobRun& r = job.runs(run);
  const int64_t end = r.end_ms() ? r.end_ms() : clock_->NowMs();
  auto steps = metrics_.Steps(*store_, r.start_ms() - metrics_.bucket_ms(), end + metrics_.bucket_ms(),
                              job.id());
  if (!steps.ok()) return {};
  std::map<int64_t, acct::StepTotals> by_bucket;  // ordered by time
  for (const acct::StepBucket& b : *steps) {
    if (b.run == run) by_bucket[b.start].Add(b.totals);
  }
  std::vector<double> out;
  for (const auto& [start, t] : by_bucket) {
    if (t.step_s > 0) out.push_back(t.model_flops / (t.step_s * r.peak_flops()));
  }
  if (out.size() > kMfuSeriesLength) out.erase(out.begin(), out.end() - kMfuSeriesLength);
  return out;
}

void ControlPlane::DescribePending(v1::Job& job, bool with_factors) const {
  if (job.state() != v1::PENDING) return;
  job.set_reason(sched::WaitReasonName(core_->reason(job.id())));
  if (auto start = core_->expected_start(job.id())) job.set_expected_start_ms(*start);
  if (!with_factors) return;
  for (const sched::PriorityFactor& f : core_->Explain(job.id(), clock_->NowMs())) {
    v1::PriorityFactor* out = job.add_priority_factors();
    out->set_name(f.name);
    out->set_value(f.value);
  }
}

std::vector<v1::Job> ControlPlane::ListJobs(const std::vector<v1::JobState>& states) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Job> out;
  for (const auto& [id, job] : jobs_) {
    if (!states.empty() && std::find(states.begin(), states.end(), job.state()) == states.end()) continue;
    out.push_back(job);
    DescribePending(out.back(), /*with_factors=*/false);
  }
  return out;
}

StatusOr<v1::Job> ControlPlane::Cancel(int64_t id) {
  std::vector<WorkerCall> calls;
  v1::Job result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return NotFound("no job " + std::to_string(id));
    v1::Job job = it->second;  // changed on a copy, swapped in after the commit
    const int64_t now = clock_->NowMs();
    store::Batch batch;
    if (job.state() == v1::PENDING) {
      LOOM_RETURN_IF_ERROR(Transition(job, v1::CANCELLED));
      job.set_end_time_ms(now);
      job.set_reason("Cancelled");
      batch.jobs = {&job};
      batch.events = {{now, id, "", "cancelled"}};
      LOOM_RETURN_IF_ERROR(store_->Commit(batch));
      (void)core_->RemovePending(id);
    } else {
      LOOM_RETURN_IF_ERROR(sched::CheckTransition(id, ToCore(job.state()), JobState::kCancelled));
      EndRunningJob(job, v1::CANCELLED, 0, "Cancelled", now, batch, calls);
      MarkReleasedIfQuiet(job);
      batch.jobs = {&job};
      LOOM_RETURN_IF_ERROR(store_->Commit(batch));
      ApplyRelease(job);
    }
    it->second = job;
    result = job;
    MarkDirty();
  }
  RunCalls(std::move(calls));
  return result;
}

std::vector<v1::Node> ControlPlane::ListNodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Node> out;
  for (const auto& [name, entry] : nodes_) {
    v1::Node n = entry.node;
    n.set_last_heartbeat_ms(entry.last_seen_ms);
    if (auto index = core_->cluster().Find(name)) {
      for (sched::JobId job : core_->cluster().JobsOn(*index)) {
        for (const sched::NodeGrant& g : *core_->cluster().AllocationOf(job)) {
          if (g.node != *index) continue;
          for (int gpu : sched::MaskToIndices(g.gpus)) n.add_allocated_gpus(gpu);
        }
      }
      std::sort(n.mutable_allocated_gpus()->begin(), n.mutable_allocated_gpus()->end());
    }
    out.push_back(std::move(n));
  }
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
    const int world = job.spec().mpi() ? 1 : job.spec().gpus();
    if (request.rank() < 0 || request.rank() >= world) {
      return InvalidArgument(job.spec().mpi()
                                 ? "MPI jobs keep every rank's output in rank 0 (mpirun gathers it)"
                                 : "job " + std::to_string(job.id()) + " has ranks 0.." +
                                       std::to_string(world - 1));
    }
    const std::string& node = job.allocation(request.rank() / job.spec().gpus_per_node()).node();
    auto n = nodes_.find(node);
    if (n == nodes_.end()) return NotFound("node " + node + " is unknown");
    address = n->second.node.address();
  }
  return workers_->ReadLog(address, request);
}

namespace {

void ToProto(const acct::Efficiency& e, v1::Efficiency* out) {
  out->set_gpu_hours_available(e.gpu_hours_available);
  out->set_gpu_hours_allocated(e.gpu_hours_allocated);
  out->set_allocation_ratio(e.allocation_ratio);
  out->set_gpu_busy_ratio(e.gpu_busy_ratio);
  out->set_model_flops(e.model_flops);
  out->set_mfu(e.mfu);
  out->set_goodput(e.goodput);
  out->set_queue_delay_mean_s(e.queue_delay_mean_s);
  out->set_queue_delay_p95_s(e.queue_delay_p95_s);
  out->set_runs_started(e.runs_started);
  out->set_fragmentation(e.fragmentation);
  out->set_fragmented_gpus_mean(e.fragmented_gpus_mean);
}

acct::JobFacts FactsOf(const v1::Job& job) {
  acct::JobFacts facts{job.spec().tenant(), job.state() == v1::PENDING, {}};
  for (const v1::JobRun& r : job.runs()) {
    facts.runs.push_back({r.eligible_ms(), r.start_ms(), r.end_ms(), r.gpus(), r.peak_flops(),
                          r.lost(),
                          {r.steps(), r.step_time_s(), r.compute_s(), r.exposed_comm_s(),
                           r.model_flops()}});
  }
  return facts;
}

}  // namespace

StatusOr<v1::Stats> ControlPlane::GetStats(const v1::GetStatsRequest& request) {
  if (request.window_ms() < 0) return InvalidArgument("the stats window must not be negative");
  if (request.end_ms() < 0) return InvalidArgument("the stats window's end must not be negative");
  std::lock_guard<std::mutex> lock(mu_);
  v1::Stats stats;
  for (const auto& [name, entry] : nodes_) {
    if (entry.node.state() == v1::UP) {
      stats.set_nodes_up(stats.nodes_up() + 1);
      stats.set_gpus_up(stats.gpus_up() + entry.node.gpus_size());
    } else {
      stats.set_nodes_down(stats.nodes_down() + 1);
    }
  }
  stats.set_gpus_total(core_->cluster().total_gpus());
  stats.set_gpus_allocated(core_->cluster().allocated_gpus());
  stats.set_gpus_fragmented(static_cast<int>(metrics_.levels().gpus_fragmented));
  double wait_sum = 0;
  int started = 0;
  std::map<int64_t, acct::JobFacts> facts;
  for (const auto& [id, job] : jobs_) {
    (*stats.mutable_jobs_by_state())[v1::JobState_Name(job.state())]++;
    if (job.start_time_ms() > 0) {
      wait_sum += (job.start_time_ms() - job.submit_time_ms()) / 1000.0;
      ++started;
    }
    facts[id] = FactsOf(job);
  }
  stats.set_jobs_submitted(static_cast<int64_t>(jobs_.size()));
  stats.set_mean_wait_s(started ? wait_sum / started : 0);

  const int64_t now = clock_->NowMs();
  const int64_t end = request.end_ms() > 0 ? request.end_ms() : now;
  const int64_t window = request.window_ms() > 0 ? request.window_ms() : 24 * 3600 * 1000LL;
  const int64_t from = end - window;
  metrics_.AdvanceTo(now);
  LOOM_ASSIGN_OR_RETURN(auto usage, metrics_.Usage(*store_, from, end));
  LOOM_ASSIGN_OR_RETURN(auto steps, metrics_.Steps(*store_, from, end));
  const acct::Figures figures = acct::ComputeFigures(from, end, now, usage, steps, facts);
  stats.set_window_start_ms(from);
  stats.set_window_end_ms(end);
  ToProto(figures.cluster, stats.mutable_cluster());
  for (const auto& [tenant, t] : figures.tenants) {
    v1::TenantEfficiency* out = stats.add_tenants();
    out->set_tenant(tenant);
    ToProto(t.efficiency, out->mutable_efficiency());
    out->set_share_of_allocated(t.share_of_allocated);
    out->set_pending_jobs(t.pending_jobs);
  }
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Workers

StatusOr<v1::RegisterReply> ControlPlane::Register(const v1::RegisterRequest& request) {
  const v1::Node& in = request.node();
  if (in.name().empty()) return InvalidArgument("a worker needs a node name");
  if (in.address().empty()) return InvalidArgument("worker " + in.name() + " sent no address");
  if (request.session().empty()) return InvalidArgument("worker " + in.name() + " sent no session");
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = clock_->NowMs();
    auto existing = nodes_.find(in.name());
    if (existing != nodes_.end() && existing->second.session != request.session() &&
        !existing->second.session.empty() && existing->second.node.state() == v1::UP &&
        now - existing->second.last_seen_ms < options_.node_timeout_ms) {
      return AlreadyExists("node " + in.name() + " is already registered by a live worker at " +
                           existing->second.node.address() +
                           "; stop that worker first or pick another --name");
    }
    LOOM_ASSIGN_OR_RETURN(sched::NodeIndex index,
                          core_->cluster().UpsertNode(in.name(), in.gpus_size(),
                                                      {in.labels().begin(), in.labels().end()}));
    NodeEntry& entry = nodes_[in.name()];
    entry.node = in;
    entry.node.set_state(v1::UP);
    entry.node.clear_allocated_gpus();
    entry.session = request.session();
    entry.last_seen_ms = now;
    core_->cluster().SetUp(index, true);

    // Jobs loomd believes run here but the worker does not have were lost with an earlier worker.
    std::set<int64_t> running;
    for (const v1::JobAttempt& a : request.running()) running.insert(a.job_id());
    store::Batch batch;
    std::vector<v1::Job> lost;
    std::vector<int64_t> requeued;
    for (sched::JobId id : core_->cluster().JobsOn(index)) {
      if (running.count(id)) {
        if (KillOwedForPreemption(jobs_[id], in.name())) {
          calls.push_back({WorkerCall::kKill, in.address(), id, in.name(), {}, "Preempted"});
        }
        continue;
      }
      v1::Job job = jobs_[id];
      if (HasExited(job, in.name())) continue;  // its ranks here ended; it waits for other nodes
      job.add_exited_nodes(in.name());           // nothing of it runs here any more
      if (job.state() == v1::RUNNING && job.preempted_for() != 0) {
        // A victim's ranks that are gone were going away anyway: requeue, not fail.
        if (AllNodesQuiet(job)) {
          RequeuePreempted(job, now, batch);
          requeued.push_back(id);
        }
      } else if (job.state() == v1::RUNNING) {
        EndRunningJob(job, v1::FAILED, -1, "NodeFail: worker on " + in.name() + " lost the job",
                      now, batch, calls);
      }
      if (IsTerminal(job.state())) MarkReleasedIfQuiet(job);  // a requeued job has no GPUs to release
      lost.push_back(std::move(job));
    }
    for (const v1::Job& job : lost) batch.jobs.push_back(&job);
    batch.nodes = {&entry.node};
    batch.events.push_back({now, 0, in.name(), "registered " + in.address()});
    LOOM_RETURN_IF_ERROR(store_->Commit(batch));
    for (v1::Job& job : lost) {
      ApplyRelease(job);
      jobs_[job.id()] = std::move(job);
    }
    for (int64_t id : requeued) (void)core_->Requeue(id, jobs_[id].submit_time_ms(), now);
    MarkDirty();
  }
  RunCalls(std::move(calls));
  v1::RegisterReply reply;
  reply.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  return reply;
}

v1::HeartbeatReply ControlPlane::Heartbeat(const v1::HeartbeatRequest& request) {
  v1::HeartbeatReply reply;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = nodes_.find(request.node());
  if (it == nodes_.end() || it->second.session != request.session()) {
    reply.set_reregister(true);  // loomd restarted, or a newer worker holds the name
    return reply;
  }
  NodeEntry& entry = it->second;
  const int64_t now = clock_->NowMs();
  entry.last_seen_ms = now;
  double busy_change = 0;
  for (int i = 0; i < entry.node.gpus_size() && i < request.gpus_size(); ++i) {
    busy_change += request.gpus(i).utilization() - entry.node.gpus(i).utilization();
    entry.node.mutable_gpus(i)->set_utilization(request.gpus(i).utilization());
  }
  if (entry.node.state() == v1::UP && busy_change != 0) {
    acct::UsageLevels levels = metrics_.levels();  // only the busy level moved: no rescan
    levels.gpus_busy += busy_change;
    metrics_.SetLevels(now, levels);
  }
  if (entry.node.state() != v1::UP) {
    // Its jobs were failed when it went DOWN; it comes back empty and placeable.
    reply.set_reregister(true);
    return reply;
  }
  for (const v1::JobAttempt& attempt : request.running()) {
    const int64_t id = attempt.job_id();
    auto job = jobs_.find(id);
    if (job == jobs_.end() || job->second.state() != v1::RUNNING || !HasNode(job->second, request.node()) ||
        KillOwedForPreemption(job->second, request.node())) {
      *reply.add_kill() = attempt;
    }
  }
  return reply;
}

Status ControlPlane::ReportSteps(const v1::ReportStepsRequest& request) {
  acct::StepTotals totals;
  for (const v1::StepSample& sample : request.steps()) {
    for (double v : {sample.step_s(), sample.compute_s(), sample.exposed_comm_s(),
                     sample.model_flops(), sample.busbw_gbps()}) {
      if (!std::isfinite(v) || v < 0) {
        return InvalidArgument("step samples must be finite and non-negative");
      }
    }
    totals.Add({1, sample.step_s(), sample.compute_s(), sample.exposed_comm_s(), sample.model_flops()});
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(request.job_id());
  if (it == jobs_.end()) return NotFound("no job " + std::to_string(request.job_id()));
  v1::Job& job = it->second;
  // Late reports of an ended or preempted run still count, for that run.
  if (request.run() < 0 || request.run() >= job.runs_size()) {
    return InvalidArgument("job " + std::to_string(job.id()) + " has no run " +
                           std::to_string(request.run()));
  }
  if (totals.steps == 0) return Status::Ok();
  v1::JobRun* run = job.mutable_runs(request.run());
  run->set_steps(run->steps() + totals.steps);
  run->set_step_time_s(run->step_time_s() + totals.step_s);
  run->set_compute_s(run->compute_s() + totals.compute_s);
  run->set_exposed_comm_s(run->exposed_comm_s() + totals.exposed_comm_s);
  run->set_model_flops(run->model_flops() + totals.model_flops);
  run->set_busbw_gbps(request.steps(request.steps_size() - 1).busbw_gbps());
  metrics_.AddSteps(job.id(), request.run(), clock_->NowMs(), totals);
  metrics_jobs_.insert(job.id());
  return Status::Ok();
}

Status ControlPlane::ReportJobExit(const v1::ReportJobExitRequest& request) {
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(request.job_id());
    if (it == jobs_.end()) return NotFound("no job " + std::to_string(request.job_id()));
    // Reports for nodes the job does not use, or already reported, are acknowledged and dropped:
    // the worker must not resend them forever.
    if (!HasNode(it->second, request.node()) || HasExited(it->second, request.node())) return Status::Ok();
    v1::Job job = it->second;
    job.add_exited_nodes(request.node());

    const int64_t now = clock_->NowMs();
    store::Batch batch;
    bool requeued = false;
    if (job.state() == v1::RUNNING && job.preempted_for() != 0) {
      // Preempted ranks exit however SIGTERM leaves them; once every node is done, requeue.
      if (AllNodesQuiet(job)) {
        RequeuePreempted(job, now, batch);
        requeued = true;
      }
    } else if (job.state() == v1::RUNNING) {
      const bool failed = request.exit_code() != 0 || !request.reason().empty();
      const bool head = job.allocation(0).node() == request.node();
      const bool all_exited = job.exited_nodes_size() == job.allocation_size();
      if (failed) {
        std::string reason = request.reason().empty() ? "NonZeroExit" : request.reason();
        EndRunningJob(job, v1::FAILED, request.exit_code(), reason, now, batch, calls);
      } else if (all_exited || (job.spec().mpi() && head)) {
        // An MPI job is over when mpirun, on the head node, exits.
        EndRunningJob(job, v1::COMPLETED, 0, "", now, batch, calls);
      }
    }
    // An ended job's last report frees its GPUs (a cancelled job's ranks are gone only now).
    if (IsTerminal(job.state())) MarkReleasedIfQuiet(job);
    batch.jobs.push_back(&job);
    LOOM_RETURN_IF_ERROR(store_->Commit(batch));
    ApplyRelease(job);
    if (requeued) {
      (void)core_->Requeue(job.id(), job.submit_time_ms(), now);
      MarkDirty();
    }
    it->second = std::move(job);
  }
  RunCalls(std::move(calls));
  return Status::Ok();
}

void ControlPlane::EndRunningJob(v1::Job& job, v1::JobState state, int exit_code,
                                 const std::string& reason, int64_t now, store::Batch& batch,
                                 std::vector<WorkerCall>& calls) {
  job.set_state(state);  // callers checked the transition; RUNNING may end in any final state
  job.set_exit_code(exit_code);
  job.set_reason(reason);
  job.set_end_time_ms(now);
  EndRun(job, now, /*lost=*/state == v1::FAILED);
  std::string what = v1::JobState_Name(state);
  std::transform(what.begin(), what.end(), what.begin(), ::tolower);
  batch.events.push_back({now, job.id(), "", reason.empty() ? what : what + ": " + reason});
  KillRemainingNodes(job, reason, calls);
}

void ControlPlane::KillRemainingNodes(const v1::Job& job, const std::string& reason,
                                      std::vector<WorkerCall>& calls) {
  for (const auto& a : job.allocation()) {
    if (HasExited(job, a.node())) continue;
    auto n = nodes_.find(a.node());
    if (n == nodes_.end() || n->second.node.state() != v1::UP) continue;
    WorkerCall call{WorkerCall::kKill, n->second.node.address(), job.id(), a.node(), {}, reason};
    calls.push_back(std::move(call));
  }
}

void ControlPlane::BeginPreemption(v1::Job& victim, int64_t for_job, int64_t now, store::Batch& batch,
                                   std::vector<WorkerCall>& calls) {
  victim.set_preempted_for(for_job);
  victim.set_reason("Preempting for job " + std::to_string(for_job));
  batch.events.push_back({now, victim.id(), "", "preempting for job " + std::to_string(for_job)});
  KillRemainingNodes(victim, "Preempted", calls);
  metrics::Counter("loom_preemptions_total", "Jobs told to stop for a higher-QoS job, by cause", {"cause"}).Inc({"qos"});
}

void ControlPlane::RequeuePreempted(v1::Job& job, int64_t now, store::Batch& batch) {
  EndRun(job, now, /*lost=*/true);  // Loom sees no checkpoints: the run's work is gone
  job.set_eligible_time_ms(now);
  job.set_state(v1::PENDING);  // RUNNING -> PENDING: the state machine's requeue
  job.clear_allocation();
  job.clear_exited_nodes();
  job.set_start_time_ms(0);
  job.set_preempted_for(0);
  job.set_preemptions(job.preemptions() + 1);
  job.set_reason("Preempted");
  batch.events.push_back({now, job.id(), "", "requeued after preemption"});
  metrics::Counter("loom_requeues_total", "Jobs put back in the queue, by cause", {"cause"}).Inc({"preempted"});
}

bool ControlPlane::AllNodesQuiet(const v1::Job& job) const {
  for (const auto& a : job.allocation()) {
    if (HasExited(job, a.node())) continue;
    auto n = nodes_.find(a.node());
    if (n != nodes_.end() && n->second.node.state() == v1::UP) return false;  // ranks may still run
  }
  return true;
}

bool ControlPlane::KillOwedForPreemption(const v1::Job& job, const std::string& node) {
  return job.state() == v1::RUNNING && job.preempted_for() != 0 && HasNode(job, node) &&
         !HasExited(job, node);
}

std::vector<sched::TenantUsage> ControlPlane::UsageToWrite(int64_t now, bool with_other_writes) const {
  std::vector<sched::TenantUsage> usage = core_->SaveUsage();
  if (usage.empty() || usage == written_usage_) return {};
  if (!with_other_writes && now - usage_written_ms_ < kUsageWriteIntervalMs) return {};
  return usage;
}

void ControlPlane::UsageWritten(int64_t now, std::vector<sched::TenantUsage> usage) {
  if (usage.empty()) return;
  written_usage_ = std::move(usage);
  usage_written_ms_ = now;
}

bool ControlPlane::MarkReleasedIfQuiet(v1::Job& job) const {
  if (job.released() || !AllNodesQuiet(job)) return false;
  job.set_released(true);
  return true;
}

void ControlPlane::ApplyRelease(const v1::Job& job) {
  if (!job.released() || !core_->cluster().AllocationOf(job.id())) return;
  // Fair share counts the job's GPU time up to its end, not up to the pass that follows.
  core_->Finish(job.id(), job.end_time_ms() > 0 ? std::optional<int64_t>(job.end_time_ms()) : std::nullopt);
  MarkDirty();
}

// ---------------------------------------------------------------------------------------------
// Scheduling and liveness

bool ControlPlane::WaitForWork(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return dirty_ || shutdown_; });
  return dirty_ && !shutdown_;
}

acct::UsageLevels ControlPlane::UsageLevelsNow() const {
  acct::UsageLevels levels;
  for (const auto& [name, entry] : nodes_) {
    if (entry.node.state() != v1::UP) continue;
    levels.gpus_up += entry.node.gpus_size();
    for (const v1::Gpu& gpu : entry.node.gpus()) {
      levels.gpus_busy += gpu.utilization();
      levels.peak_flops_up += PeakFlops(gpu);
    }
    if (auto index = core_->cluster().Find(name)) {
      const sched::Node& node = core_->cluster().node(*index);
      levels.gpus_allocated += node.gpu_count - node.free_count();
    }
  }
  levels.gpus_fragmented = acct::FragmentedGpus(core_->cluster(), smallest_pending_);
  return levels;
}

double ControlPlane::PeakFlopsOf(const v1::Job& job) const {
  double peak = 0;
  for (const auto& a : job.allocation()) {
    auto n = nodes_.find(a.node());
    if (n == nodes_.end()) continue;
    for (int g : a.gpu_indices()) {
      if (g >= 0 && g < n->second.node.gpus_size()) peak += PeakFlops(n->second.node.gpus(g));
    }
  }
  return peak;
}

void ControlPlane::FlushMetrics(bool everything) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowMs();
  store::Batch batch;
  metrics_.Flush(now, everything, batch);
  for (int64_t id : metrics_jobs_) batch.jobs.push_back(&jobs_[id]);
  if (!batch.empty()) {
    if (Status s = store_->Commit(batch); !s.ok()) {
      metrics_.Restore(batch);
      std::fprintf(stderr, "loomd: cannot record metrics, retrying: %s\n", s.ToString().c_str());
      return;
    }
    metrics_jobs_.clear();
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
    std::lock_guard<std::mutex> lock(mu_);
    if (!dirty_ && !force) return 0;
    dirty_ = false;
    const int64_t now = clock_->NowMs();
    sched::PassResult pass = core_->Schedule(now);
    // Every change of the levels (starts, releases, nodes, the queue) marks a pass due.
    smallest_pending_ = core_->SmallestPending();
    metrics_.SetLevels(now, UsageLevelsNow());
    const bool decided = !pass.starts.empty() || !pass.preemptions.empty();
    std::vector<sched::TenantUsage> usage = UsageToWrite(now, decided);
    if (!decided) {
      store::Batch batch;
      for (const sched::TenantUsage& u : usage) batch.fair_share_usage.push_back(ToStore(u));
      Status s = store_->Commit(batch);  // empty batches write nothing
      if (s.ok()) {
        UsageWritten(now, std::move(usage));
      } else {
        std::fprintf(stderr, "loomd: cannot record fair-share usage (the next pass tries again): %s\n", s.ToString().c_str());
      }
      return 0;
    }

    std::vector<v1::Job> updated;
    updated.reserve(pass.starts.size() + pass.preemptions.size());
    store::Batch batch;
    for (const sched::Preemption& p : pass.preemptions) {
      v1::Job victim = jobs_[p.victim];
      if (victim.state() != v1::RUNNING || victim.preempted_for() != 0) continue;
      BeginPreemption(victim, p.for_job, now, batch, calls);
      updated.push_back(std::move(victim));
    }
    const size_t preempted = updated.size();
    for (const sched::StartDecision& d : pass.starts) {
      v1::Job job = jobs_[d.id];
      (void)Transition(job, v1::RUNNING);
      job.set_start_time_ms(now);
      job.set_reason("");
      FillAllocation(d.allocation, job);
      v1::JobRun* run = job.add_runs();
      run->set_eligible_ms(job.eligible_time_ms() ? job.eligible_time_ms() : job.submit_time_ms());
      run->set_start_ms(now);
      run->set_gpus(job.spec().gpus());
      run->set_peak_flops(PeakFlopsOf(job));
      batch.events.push_back({now, d.id, job.allocation(0).node(), "started"});
      updated.push_back(std::move(job));
    }
    for (const v1::Job& job : updated) batch.jobs.push_back(&job);
    for (const sched::TenantUsage& u : usage) batch.fair_share_usage.push_back(ToStore(u));
    Status s = store_->Commit(batch);
    if (!s.ok()) {
      // Nothing was recorded, so nothing starts: give the GPUs back and keep the jobs queued.
      // (Preemptions not recorded are not sent; the core plans them again in a later pass.)
      calls.clear();
      std::fprintf(stderr, "loomd: cannot record job starts, retrying: %s\n", s.ToString().c_str());
      for (const sched::StartDecision& d : pass.starts) {
        core_->Finish(d.id);
        (void)core_->AddPending(d.id, *RequestOf(jobs_[d.id].spec()), jobs_[d.id].submit_time_ms());
      }
      dirty_ = true;
      return 0;
    }
    UsageWritten(now, std::move(usage));
    for (size_t i = 0; i < preempted; ++i) jobs_[updated[i].id()] = std::move(updated[i]);
    updated.erase(updated.begin(), updated.begin() + static_cast<std::ptrdiff_t>(preempted));
    for (v1::Job& job : updated) {
      std::vector<v1::Node> nodes;
      for (const auto& a : job.allocation()) nodes.push_back(nodes_[a.node()].node);
      for (int i = 0; i < job.allocation_size(); ++i) {
        WorkerCall call{WorkerCall::kLaunch, nodes[i].address(), job.id(), nodes[i].name(), {}, ""};
        *call.launch.mutable_job() = job;
        call.launch.set_node_index(i);
        for (const v1::Node& n : nodes) *call.launch.add_nodes() = n;
        calls.push_back(std::move(call));
      }
      jobs_[job.id()] = std::move(job);
      ++started;
    }
  }
  RunCalls(std::move(calls));
  return started;
}

void ControlPlane::CheckLiveness() {
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = clock_->NowMs();
    store::Batch batch;
    std::vector<v1::Job> failed;
    std::vector<int64_t> requeued;
    std::vector<std::string> down;
    for (auto& [name, entry] : nodes_) {
      if (now - entry.last_seen_ms <= options_.node_timeout_ms) continue;
      auto index = core_->cluster().Find(name);
      std::vector<sched::JobId> jobs = index ? core_->cluster().JobsOn(*index) : std::vector<sched::JobId>{};
      if (entry.node.state() == v1::DOWN && jobs.empty()) continue;
      if (entry.node.state() != v1::DOWN) {
        entry.node.set_state(v1::DOWN);
        if (index) core_->cluster().SetUp(*index, false);
        batch.nodes.push_back(&entry.node);
        batch.events.push_back({now, 0, name, "down: no heartbeat"});
        down.push_back(name);
      }
      for (sched::JobId id : jobs) {
        v1::Job job = jobs_[id];
        if (job.state() == v1::RUNNING && job.preempted_for() != 0) {
          // Being preempted: its ranks there went with the node, which is all the preemption
          // wanted of them. It is requeued, not failed, once no node runs it any more.
          if (AllNodesQuiet(job)) {
            RequeuePreempted(job, now, batch);
            requeued.push_back(id);
          }
          failed.push_back(std::move(job));
          continue;
        }
        if (job.state() == v1::RUNNING) {
          EndRunningJob(job, v1::FAILED, -1, "NodeFail: " + name + " stopped heartbeating", now,
                        batch, calls);
        }
        MarkReleasedIfQuiet(job);  // a DOWN node runs nothing we could wait for
        failed.push_back(std::move(job));
      }
    }
    if (batch.empty()) return;
    for (const v1::Job& job : failed) batch.jobs.push_back(&job);
    Status s = store_->Commit(batch);
    if (!s.ok()) {
      // Leave the in-memory view as it was; the next check tries again.
      std::fprintf(stderr, "loomd: cannot record node failure: %s\n", s.ToString().c_str());
      for (const std::string& name : down) {
        nodes_[name].node.set_state(v1::UP);
        if (auto index = core_->cluster().Find(name)) core_->cluster().SetUp(*index, true);
      }
      return;
    }
    for (v1::Job& job : failed) {
      ApplyRelease(job);
      jobs_[job.id()] = std::move(job);
    }
    for (int64_t id : requeued) (void)core_->Requeue(id, jobs_[id].submit_time_ms());
    for (const std::string& name : down) std::fprintf(stderr, "loomd: node %s is DOWN\n", name.c_str());
    MarkDirty();
  }
  RunCalls(std::move(calls));
}

void ControlPlane::RunCalls(std::vector<WorkerCall> calls) {
  for (WorkerCall& call : calls) {
    if (call.kind == WorkerCall::kLaunch) {
      Status s = workers_->Launch(call.address, call.launch);
      if (!s.ok()) LaunchFailed(call.job_id, call.node, s);
    } else {
      // Best effort: a worker that misses a kill learns of it from its next heartbeat's reply.
      (void)workers_->Kill(call.address, call.job_id, call.reason);
    }
  }
}

void ControlPlane::LaunchFailed(int64_t job_id, const std::string& node, const Status& why) {
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || it->second.state() != v1::RUNNING) return;
    v1::Job job = it->second;
    const int64_t now = clock_->NowMs();
    store::Batch batch;
    job.add_exited_nodes(node);  // nothing started there
    EndRunningJob(job, v1::FAILED, -1, "LaunchFailed: " + node + ": " + why.message(), now, batch,
                  calls);
    MarkReleasedIfQuiet(job);
    batch.jobs.push_back(&job);
    if (!store_->Commit(batch).ok()) return;  // stays RUNNING; liveness or the worker resolves it
    ApplyRelease(job);
    it->second = std::move(job);
  }
  RunCalls(std::move(calls));
}

}  // namespace loom
