#include "sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <queue>
#include <random>
#include <set>
#include <tuple>

#include "kernels/train/model_shape.h"
#include "scheduler/accounting/efficiency.h"
#include "scheduler/core/scheduler_core.h"
#include "scheduler/lifecycle/edit_builder.h"

namespace loom::sim {
namespace {

using sched::TimeMs;

TimeMs Ms(double s) { return static_cast<TimeMs>(std::llround(s * 1000)); }
double Sec(TimeMs ms) { return ms / 1000.0; }

// kRanksExit: the ranks of a job's attempt exit on the nodes its kill reached (after its grace).
// kNodeDown: a failed node's heartbeats are missed for the detection delay; kLeaseEnd: its lease
// is over (its ranks presumed gone); kRepair: it registers again.
enum class Ev : uint8_t { kArrival, kAttemptEnd, kFailure, kNodeDown, kLeaseEnd, kRepair, kRanksExit, kPass, kSample };

struct Event {
  TimeMs t;
  uint64_t seq;  // ties break in the order events were made: deterministic
  Ev type;
  int32_t a;     // job index or node
  int32_t b;     // attempt
  bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

// A job as the simulator tracks it between the scheduler's decisions.
struct Run {
  const SimJob* job = nullptr;
  sched::JobRequest request;
  double remaining_s = 0;  // work not yet saved by a checkpoint
  double interval_s = 0, write_s = 0, restart_s = 0;
  double spread_factor = 1, scale = 1;  // the current attempt's speed: remaining_s is in its seconds
  int packed_leaves = 1;                // leaves the job's nodes fill when packed
  int attempt = 0, requeues = 0, held = 0;
  TimeMs eligible = 0, attempt_start = 0, work_start = 0, finish = 0;
  bool doomed = false;     // a node it runs on failed; the lifecycle stops it when that is noticed
  TimeMs failed_at = 0;
  int cause = 0;
  bool ended = false;
};

class Simulation {
 public:
  Simulation(const SimOptions& o, const std::vector<SimJob>& jobs,
             std::unique_ptr<sched::SchedulingPolicy> policy)
      : o_(o), jobs_(jobs), lc_(LifecycleOptions(o)), core_(std::move(policy)),
        rows_(core_.cluster()), rng_(o.seed) {}

  StatusOr<SimResult> Run();

 private:
  static bool IsJobEvent(Ev t) {
    return t == Ev::kArrival || t == Ev::kAttemptEnd || t == Ev::kNodeDown || t == Ev::kLeaseEnd ||
           t == Ev::kRanksExit;
  }
  static lifecycle::Options LifecycleOptions(const SimOptions& o) {
    lifecycle::Options l;
    l.default_max_requeues = o.failures.max_requeues;
    l.default_grace_ms = l.max_grace_ms = Ms(o.preemption_grace_s);
    l.launch_rows = false;  // nothing is launched: the simulated node is the Start below
    return l;
  }
  void Push(TimeMs t, Ev type, int a = 0, int b = 0) {
    job_events_ += IsJobEvent(type);
    repairs_ += type == Ev::kRepair;
    queue_.push({t, seq_++, type, a, b});
  }
  Status Prepare();
  void Integrate(TimeMs t);
  void Handle(const Event& e);
  void Pass();
  void Start(const sched::StartDecision& d);
  void Apply(lifecycle::Edit edit);
  void Released(int j, const v1::Job& row);
  void Exits(int j, int attempt, int code, const std::string& reason);
  double SavedAt(const struct Run& r, TimeMs t, int* checkpoints) const;
  void NextFailure();
  void CountUp(int n);

  const SimOptions& o_;
  const std::vector<SimJob>& jobs_;
  const lifecycle::Lifecycle lc_;
  sched::SchedulerCore core_;
  SimRows rows_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  uint64_t seq_ = 0;
  std::vector<struct Run> runs_;
  std::unordered_map<sched::JobId, int> index_;
  std::vector<double> node_peak_;      // FLOP/s of each node at peak
  std::vector<TimeMs> failing_until_;  // a failed node's detection time (0: healthy)
  std::vector<int> failing_cause_;
  std::vector<char> counted_up_;       // whether gpus_up_ counts the node
  SimResult result_;
  TimeMs now_ = 0, last_ = 0, next_pass_ = 0;
  bool dirty_ = false, pass_queued_ = false;
  int gpus_up_ = 0, gpus_allocated_ = 0, running_ = 0;
  // Events that can still change a job, and node repairs due: with neither, and nothing running,
  // no pending job can ever start, and the run is over.
  int64_t job_events_ = 0, repairs_ = 0;
  double peak_up_ = 0;
  int64_t ended_ = 0;
  std::discrete_distribution<int> cause_pick_;
};

Status Simulation::Prepare() {
  LOOM_RETURN_IF_ERROR(sched::PopulateCluster(o_.cluster, &core_.cluster()));
  const sched::Cluster& c = core_.cluster();
  if (c.size() == 0) return InvalidArgument("the cluster config has no nodes");
  int nodes_per_leaf = 0;
  for (int n = 0; n < c.size(); ++n) nodes_per_leaf += c.leaf_of(n) == c.leaf_of(0);
  node_peak_.resize(c.size());
  failing_until_.assign(c.size(), 0);
  failing_cause_.assign(c.size(), 0);
  counted_up_.assign(c.size(), 1);
  rows_.AddNodes();
  std::string gpu_model = o_.cluster.nodes.front().model;
  for (int n = 0; n < c.size(); ++n) {
    const sched::GpuModel* m = o_.cluster.FindModel(o_.cluster.nodes[n].model);
    node_peak_[n] = c.node(n).gpu_count * (m ? m->dense_bf16_tflops * 1e12 : 0);
    gpus_up_ += c.node(n).gpu_count;
    peak_up_ += node_peak_[n];
  }
  std::vector<double> shares;
  for (const FailureCause& fc : o_.failures.causes) shares.push_back(fc.share);
  if (shares.empty()) shares.push_back(1);
  cause_pick_ = std::discrete_distribution<int>(shares.begin(), shares.end());

  // Normalising checks every node; jobs come in few shapes, so each shape is checked once.
  std::map<std::pair<int, int>, StatusOr<sched::JobRequest>> shapes;
  runs_.resize(jobs_.size());
  result_.jobs.resize(jobs_.size());
  for (size_t i = 0; i < jobs_.size(); ++i) {
    const SimJob& job = jobs_[i];
    struct Run& r = runs_[i];
    r.job = &job;
    JobResult& res = result_.jobs[i];
    res = {job.id, job.name, job.tenant, job.gpus, job.arrival_s};
    index_[job.id] = static_cast<int>(i);
    auto key = std::make_pair(job.gpus, job.gpus_per_node);
    auto it = shapes.find(key);
    if (it == shapes.end()) {
      sched::JobRequest q;
      q.gpus = job.gpus;
      q.gpus_per_node = job.gpus_per_node;
      it = shapes.emplace(key, core_.Normalize(q)).first;
    }
    if (!it->second.ok()) {
      res.state = "REFUSED";
      res.refused_why = it->second.status().message();
      r.ended = true;
      ++ended_;
      continue;
    }
    r.request = *it->second;
    r.request.tenant = job.tenant;
    r.request.priority = job.priority;
    r.request.qos = job.qos;
    r.request.time_limit_ms = Ms(job.time_limit_s);
    LOOM_ASSIGN_OR_RETURN(JobWork w, WorkOf(job, r.request.gpus_per_node, nodes_per_leaf, gpu_model, o_.perf));
    res.work_s = r.remaining_s = w.seconds;
    r.spread_factor = w.spread_factor;
    r.packed_leaves = (std::max(1, r.request.nodes()) + nodes_per_leaf - 1) / nodes_per_leaf;
    res.model_flops = w.model_flops;
    res.tflops_per_gpu = w.tflops_per_gpu;
    r.interval_s = o_.failures.IntervalFor(std::max(1, r.request.nodes()));
    r.write_s = o_.failures.checkpoint_write_s;
    r.restart_s = o_.failures.restart_s;
    res.state = "PENDING";
    Push(Ms(job.arrival_s), Ev::kArrival, static_cast<int>(i));
  }
  return Status::Ok();
}

// Work saved by checkpoints `t` into the current attempt: whole intervals whose write finished.
double Simulation::SavedAt(const struct Run& r, TimeMs t, int* checkpoints) const {
  const double worked = std::max(0.0, Sec(t - r.work_start));
  const double k = std::floor(worked / (r.interval_s + r.write_s));
  const double saved = std::min(k * r.interval_s, r.remaining_s);
  *checkpoints = static_cast<int>(std::min(k, std::ceil(r.remaining_s / r.interval_s)));
  return saved;
}

void Simulation::Integrate(TimeMs t) {
  const double dt = Sec(t - last_);
  if (dt > 0) {
    result_.gpu_up_s += gpus_up_ * dt;
    result_.gpu_allocated_s += gpus_allocated_ * dt;
    result_.peak_flop += peak_up_ * dt;
  }
  last_ = t;
}

// gpus_up_ follows the core's placeable flag, which the lifecycle's edits set.
void Simulation::CountUp(int n) {
  const sched::Node& node = core_.cluster().node(n);
  if (static_cast<bool>(counted_up_[n]) == node.up) return;
  counted_up_[n] = node.up;
  gpus_up_ += node.up ? node.gpu_count : -node.gpu_count;
  peak_up_ += node.up ? node_peak_[n] : -node_peak_[n];
}

void Simulation::NextFailure() {
  const double rate = o_.failures.rate_per_node_day / 86400.0 * core_.cluster().size();
  if (rate <= 0) return;
  std::exponential_distribution<double> gap(rate);
  Push(now_ + std::max<TimeMs>(1, Ms(gap(rng_))), Ev::kFailure);
}

// What ControlPlane::LogAndApply does: commit the rows, apply the core changes, send the calls.
// Here the "calls" are the simulated nodes': a kill's ranks exit after its grace.
void Simulation::Apply(lifecycle::Edit edit) {
  if (edit.empty()) return;
  // The rows first: kAddPending reads the request from the edit's row.
  (void)lifecycle::ApplyToCore(edit, core_);  // an error means a row and the core disagree: none here
  for (const lifecycle::CoreChange& c : edit.core) {
    dirty_ = true;
    if (c.kind == lifecycle::CoreChange::kSetPlaceable) {
      if (auto n = core_.cluster().Find(c.node)) CountUp(*n);
    } else if (c.kind == lifecycle::CoreChange::kRequeue || c.kind == lifecycle::CoreChange::kFinish) {
      auto it = index_.find(c.job);
      auto row = edit.jobs.find(c.job);
      if (it != index_.end() && row != edit.jobs.end()) Released(it->second, row->second);
    }
  }
  // A kill reaches every node it names (the lifecycle sends none to a DOWN node); their ranks
  // exit after its grace: one event for the attempt, whose exit the lifecycle applies to every
  // node of it that is still reachable then.
  std::set<std::tuple<int64_t, int, int64_t>> kills;  // (job, attempt, grace)
  for (const lifecycle::WorkerCall& call : edit.calls) {
    if (call.kind == lifecycle::WorkerCall::kKill) {
      kills.insert({call.kill.job_id(), call.kill.attempt(), call.kill.grace_ms()});
    }
  }
  for (const auto& [job, attempt, grace] : kills) {
    auto it = index_.find(job);
    if (it != index_.end()) Push(now_ + grace, Ev::kRanksExit, it->second, attempt);
  }
  rows_.Write(edit);
}

// The ranks of job `j`'s `attempt` exit on its reachable nodes, as their workers would report it.
void Simulation::Exits(int j, int attempt, int code, const std::string& reason) {
  v1::ReportJobExitRequest report;
  report.set_job_id(runs_[j].job->id);
  report.set_attempt(attempt);
  report.set_exit_code(code);
  report.set_reason(reason);
  Apply(lc_.OnAttemptExited(rows_, report, now_));
}

void Simulation::Start(const sched::StartDecision& d) {
  const int j = index_.at(d.id);
  struct Run& r = runs_[j];
  JobResult& res = result_.jobs[j];
  ++r.attempt;
  res.attempts = r.attempt;
  if (res.start_s < 0) res.start_s = Sec(now_);
  res.state = "RUNNING";
  res.queued_s += Sec(now_ - r.eligible);
  r.attempt_start = now_;
  r.work_start = now_ + (r.attempt > 1 ? Ms(r.restart_s) : 0);
  r.held = 0;
  r.doomed = false;
  for (const sched::NodeGrant& g : d.allocation) {
    r.held += sched::PopCount(sched::GrantMask(core_.cluster().node(g.node), g));
    // Placed on a node that failed unnoticed: it is stopped when the node expires.
    if (failing_until_[g.node] > 0 && !r.doomed) {
      r.doomed = true;
      r.failed_at = now_;
      r.cause = failing_cause_[g.node];
    }
  }
  gpus_allocated_ += r.held;
  if (r.spread_factor != 1) {
    std::vector<int> leaves;
    for (const sched::NodeGrant& g : d.allocation) leaves.push_back(core_.cluster().leaf_of(g.node));
    std::sort(leaves.begin(), leaves.end());
    const int spanned = static_cast<int>(std::unique(leaves.begin(), leaves.end()) - leaves.begin());
    const double scale = spanned > r.packed_leaves ? r.spread_factor : 1;
    r.remaining_s *= scale / r.scale;
    r.scale = scale;
  }
  const double checkpoints = std::max(0.0, std::ceil(r.remaining_s / r.interval_s) - 1);
  r.finish = r.work_start + Ms(r.remaining_s + checkpoints * r.write_s);
  ++running_;
  if (!r.doomed) Push(std::min(r.finish, sched::ExpectedEnd(now_, r.request)), Ev::kAttemptEnd, j, r.attempt);
}

// The lifecycle released job `j`'s GPUs (requeued or ended, as `row` says): the attempt's work
// is accounted.
void Simulation::Released(int j, const v1::Job& row) {
  struct Run& r = runs_[j];
  JobResult& res = result_.jobs[j];
  if (row.runs_size() == 0) return;
  const v1::EndCause why = row.runs(row.runs_size() - 1).cause();
  const bool completed = row.state() == v1::COMPLETED;
  const TimeMs stop = r.doomed ? r.failed_at : std::min(now_, std::max(r.attempt_start, r.finish));
  int checkpoints = 0;
  double saved = SavedAt(r, stop, &checkpoints);
  const double wall = Sec(now_ - r.attempt_start);
  const double restart = std::min(Sec(r.work_start - r.attempt_start), Sec(stop - r.attempt_start));
  const double writes = checkpoints * r.write_s;
  if (completed) saved = r.remaining_s;
  result_.checkpoint_gpu_s += r.held * writes;
  result_.restart_gpu_s += r.held * std::max(0.0, restart);
  const double lost = std::max(0.0, wall - saved - writes - std::max(0.0, restart));
  std::string cause = why == v1::CAUSE_PREEMPTED ? "preemption"
                      : why == v1::CAUSE_TIME_LIMIT ? "timeout"
                      : r.doomed && !o_.failures.causes.empty() ? o_.failures.causes[r.cause].name
                      : r.doomed ? "failure" : lifecycle::internal::Lower(lifecycle::internal::CauseName(why));
  if (!completed && lost > 0) result_.lost_gpu_s[cause] += r.held * lost;
  r.remaining_s -= saved;
  res.useful_s += saved;
  gpus_allocated_ -= r.held;
  --running_;
  r.doomed = false;
  if (row.state() == v1::PENDING) {  // requeued, with its original submit time (the lifecycle's rule)
    r.eligible = now_;
    res.state = "PENDING";
    return;
  }
  r.ended = true;
  ++ended_;
  res.end_s = Sec(now_);
  res.state = v1::JobState_Name(row.state());
  if (completed) {
    result_.useful_gpu_s += r.held * res.useful_s;
    result_.useful_flop += res.model_flops;
  }
}

void Simulation::Pass() {
  sched::PassResult pass = core_.Schedule(now_);
  ++result_.passes;
  dirty_ = false;
  next_pass_ = now_ + Ms(o_.pass_interval_s);
  // The rows (RUNNING, a new attempt; victims preempting, their kills) before the nodes start.
  Apply(lc_.OnPass(rows_, core_.cluster(), pass, now_));
  dirty_ = false;
  for (const sched::StartDecision& d : pass.starts) Start(d);
}

void Simulation::Handle(const Event& e) {
  switch (e.type) {
    case Ev::kArrival: {
      struct Run& r = runs_[e.a];
      r.eligible = now_;
      v1::Job row;
      row.set_id(r.job->id);
      v1::JobSpec& spec = *row.mutable_spec();
      spec.set_name(r.job->name);
      spec.set_tenant(r.request.tenant);
      spec.set_gpus(r.request.gpus);
      spec.set_gpus_per_node(r.request.gpus_per_node);
      spec.set_priority(r.request.priority);
      spec.set_qos(r.request.qos);
      // Whole seconds, as a submitted spec holds it; rounded up so no job ends before its limit.
      spec.set_time_limit_s(static_cast<int64_t>(std::ceil(r.job->time_limit_s - 1e-9)));
      r.request.time_limit_ms = spec.time_limit_s() * 1000;
      Apply(lc_.OnSubmit(std::move(row), now_));
      break;
    }
    case Ev::kAttemptEnd: {
      struct Run& r = runs_[e.a];
      if (r.ended || r.doomed || e.b != r.attempt) break;
      const v1::Job* row = rows_.job(r.job->id);
      // A victim in its grace period is stopped by its kill, not by its own end.
      if (!row || lifecycle::PhaseOf(*row) != lifecycle::Phase::kRunning) break;
      if (now_ >= r.finish) {
        Exits(e.a, row->attempt(), 0, "");
      } else {
        Exits(e.a, row->attempt(), -1, "TimeLimit");  // each node's supervisor enforces the limit
      }
      break;
    }
    case Ev::kFailure: {
      NextFailure();
      std::uniform_int_distribution<int> pick(0, core_.cluster().size() - 1);
      const int n = pick(rng_);
      const int cause = cause_pick_(rng_);
      // A node already down or failing cannot fail again (thinning keeps the rate per UP node).
      if (!core_.cluster().node(n).up || failing_until_[n] > 0) break;
      ++result_.failures;
      const TimeMs noticed = now_ + Ms(o_.failures.detect_s);
      failing_until_[n] = noticed;
      failing_cause_[n] = cause;
      for (sched::JobId id : core_.cluster().JobsOn(n)) {
        struct Run& r = runs_[index_.at(id)];
        if (r.doomed) continue;
        r.doomed = true;
        r.failed_at = now_;
        r.cause = cause;
      }
      // loomd's clock: DOWN a heartbeat timeout after the last heartbeat, presumed gone at the
      // lease (3 × the timeout, loomd's default), back when repaired and registered.
      Push(noticed, Ev::kNodeDown, n);
      Push(now_ + Ms(o_.node_lease_s >= 0 ? o_.node_lease_s : 3 * o_.failures.detect_s), Ev::kLeaseEnd, n);
      break;
    }
    case Ev::kNodeDown:
      Apply(lc_.OnNodeExpired(rows_, rows_.node(e.a).name(), now_));
      Push(now_ + Ms(o_.failures.repair_s), Ev::kRepair, e.a);
      break;
    case Ev::kLeaseEnd:
      Apply(lc_.OnLeaseExpired(rows_, rows_.node(e.a).name(), now_));
      break;
    case Ev::kRepair: {
      failing_until_[e.a] = 0;
      v1::Node in = rows_.node(e.a);
      in.set_state(v1::UP);
      Apply(lc_.OnRegister(rows_, in, {}, now_));  // a repaired node runs nothing
      break;
    }
    case Ev::kRanksExit:
      Exits(e.a, e.b, 143, "Killed");
      break;
    case Ev::kPass:
      pass_queued_ = false;
      break;
    case Ev::kSample: {
      Sample s;
      s.t_s = Sec(now_);
      s.gpus_up = gpus_up_;
      s.gpus_allocated = gpus_allocated_;
      s.gpus_fragmented = acct::FragmentedGpus(core_.cluster(), core_.SmallestPending());
      s.pending = static_cast<int>(core_.pending_count());
      s.running = running_;
      result_.samples.push_back(s);
      Push(now_ + Ms(o_.sample_interval_s), Ev::kSample);
      break;
    }
  }
}

StatusOr<SimResult> Simulation::Run() {
  const auto wall_start = std::chrono::steady_clock::now();
  LOOM_RETURN_IF_ERROR(Prepare());
  NextFailure();
  Push(0, Ev::kSample);
  const TimeMs horizon = o_.horizon_s > 0 ? Ms(o_.horizon_s) : sched::kNever;
  const int64_t total = static_cast<int64_t>(jobs_.size());
  while (!queue_.empty() && ended_ < total) {
    const TimeMs t = queue_.top().t;
    if (t > horizon) break;
    Integrate(t);
    now_ = t;
    while (!queue_.empty() && queue_.top().t == t) {
      const Event e = queue_.top();
      queue_.pop();
      job_events_ -= IsJobEvent(e.type);
      repairs_ -= e.type == Ev::kRepair;
      ++result_.events;
      Handle(e);
    }
    // A pass over an empty queue starts and preempts nothing, and fair share loses nothing by
    // waiting: the next pass accrues the whole interval, ended jobs included.
    if (dirty_ && core_.pending_count() == 0) dirty_ = false;
    if (dirty_) {
      if (now_ >= next_pass_) {
        Pass();
      } else if (!pass_queued_) {
        pass_queued_ = true;
        Push(next_pass_, Ev::kPass);
      }
    }
    if (job_events_ == 0 && repairs_ == 0 && running_ == 0 && !dirty_ && !pass_queued_) break;
    if (o_.progress && (result_.events & 0xffff) == 0) o_.progress(Sec(now_), ended_, total);
  }
  if (horizon != sched::kNever && now_ < horizon && ended_ < total) {
    Integrate(horizon);
    now_ = horizon;
  }
  result_.end_s = Sec(now_);
  result_.wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (o_.progress) o_.progress(Sec(now_), ended_, total);
  return std::move(result_);
}

}  // namespace

StatusOr<JobWork> WorkOf(const SimJob& job, int gpus_per_node, int nodes_per_leaf,
                         const std::string& gpu_model, const PerfInputs& perf) {
  if (job.model.empty()) return JobWork{job.duration_s, 0, 0};
  LOOM_ASSIGN_OR_RETURN(train::ModelShape shape, train::Preset(job.model));
  LOOM_ASSIGN_OR_RETURN(GpuPerf gpu, perf.Gpu(gpu_model));
  StepInputs in;
  in.model = shape;
  in.layout.tp = std::max(1, std::min(8, gpus_per_node > 0 ? gpus_per_node : job.gpus));
  while (job.gpus % in.layout.tp != 0) --in.layout.tp;
  in.layout.dp = job.gpus / in.layout.tp;
  in.batch_sequences = static_cast<double>(in.layout.dp) * shape.micro_batch;
  in.placement = PackedPlacement(in.layout, std::max(1, gpus_per_node), std::max(1, nodes_per_leaf));
  in.gpu = gpu;
  in.links = perf.links;
  LOOM_ASSIGN_OR_RETURN(StepEstimate e, EstimateStep(in));
  // A generated training job has a duration and a model: it runs as many steps as fit.
  const double steps = job.steps > 0 ? static_cast<double>(job.steps) : std::floor(job.duration_s / e.step_s);
  JobWork work{job.steps > 0 ? e.step_s * steps : job.duration_s, e.model_flops * steps, e.tflops_per_gpu};
  if (job.steps > 0 && in.layout.dp > 1 && in.placement.dp != LinkLevel::kSpine) {
    in.placement.dp = LinkLevel::kSpine;
    LOOM_ASSIGN_OR_RETURN(StepEstimate spread, EstimateStep(in));
    work.spread_factor = spread.step_s / e.step_s;
  }
  return work;
}

StatusOr<SimResult> RunSimulation(const SimOptions& options, const std::vector<SimJob>& jobs) {
  LOOM_ASSIGN_OR_RETURN(auto policy, sched::MakePolicy(options.policy, options.policy_settings));
  if (options.failures.rate_per_node_day < 0) return InvalidArgument("the failure rate must not be negative");
  Simulation sim(options, jobs, std::move(policy));
  return sim.Run();
}

}  // namespace loom::sim
