// ControlPlane: what workers call (Register, heartbeats, step and exit reports) and the calls
// loomd makes to them (Launch, Kill), with the launch fencing that keeps a late Launch from
// starting anything (worker/launch_fence.h).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "scheduler/service/control_plane.h"
#include "scheduler/service/state_view.h"

namespace loom {
namespace {
using lifecycle::Edit;
using lifecycle::WorkerCall;
}  // namespace

// ---------------------------------------------------------------------------------------------
// Workers

StatusOr<v1::RegisterReply> ControlPlane::Register(const v1::RegisterRequest& request) {
  const v1::Node& in = request.node();
  if (in.name().empty()) return InvalidArgument("a worker needs a node name");
  if (in.address().empty()) return InvalidArgument("worker " + in.name() + " sent no address");
  if (request.session().empty()) return InvalidArgument("worker " + in.name() + " sent no session");
  if (in.gpus_size() > sched::kMaxGpusPerNode) {
    return InvalidArgument("worker " + in.name() + " declares more than 64 GPUs");
  }
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> commit(commit_mu_);
    Edit edit;
    const int64_t now = clock_->NowMs();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto existing = nodes_.find(in.name());
      if (existing != nodes_.end() && existing->second.session != request.session() &&
          !existing->second.session.empty() && existing->second.node.state() != v1::DOWN &&
          now - existing->second.last_seen_ms < options_.node_timeout_ms) {
        return AlreadyExists("node " + in.name() + " is already registered by a live worker at " +
                             existing->second.node.address() +
                             "; stop that worker first or pick another --name");
      }
      const bool known = core_->cluster().Find(in.name()).has_value();
      LOOM_ASSIGN_OR_RETURN(sched::NodeIndex index,
                            core_->cluster().UpsertNode(in.name(), in.gpus_size(),
                                                        {in.labels().begin(), in.labels().end()}));
      if (!known) core_->cluster().SetUp(index, false);  // placeable once committed
      const std::vector<v1::JobAttempt> running(request.running().begin(), request.running().end());
      edit = lifecycle_.OnRegister(StateView(*this), in, running, now);
    }
    LOOM_ASSIGN_OR_RETURN(calls, LogAndApply(std::move(edit)));
    std::lock_guard<std::mutex> lock(mu_);
    NodeEntry& entry = nodes_[in.name()];
    entry.session = request.session();
    entry.registration = request.registration();
    entry.last_seen_ms = now;
    entry.misses.clear();
    // A new registration numbers its Launches afresh; the worker refuses the older ones.
    entry.launch_seq = 0;
    entry.launches_in_flight.clear();
    entry.unmarked_launches.clear();
  }
  RunCalls(std::move(calls));
  v1::RegisterReply reply;
  reply.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  reply.set_node_lease_ms(options_.lease_ms());
  return reply;
}

std::optional<v1::HeartbeatReply> ControlPlane::TryHeartbeat(const v1::HeartbeatRequest& request) {
  v1::HeartbeatReply reply;
  const std::vector<v1::JobAttempt> running(request.running().begin(), request.running().end());
  {
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
    if (entry.node.state() == v1::DOWN) {
      // It went DOWN while silent: it registers again, which settles its old attempts.
      reply.set_reregister(true);
      return reply;
    }
    if (busy_change != 0) {
      acct::UsageLevels levels = metrics_.levels();  // only the busy level moved: no rescan
      levels.gpus_busy += busy_change;
      metrics_.SetLevels(now, levels);
    }
    reply.set_launch_fence(entry.LaunchFence());
    reply.set_fence_registration(entry.registration);
    lifecycle::MissCounts misses = entry.misses;
    auto result = lifecycle_.OnHeartbeat(StateView(*this), request.node(), running, request.health(),
                                         Unmarked(entry, request.launch_mark()), misses, now);
    if (!result.edit.writes() && result.edit.core.empty()) {  // the common case: nothing to commit
      entry.misses = std::move(misses);
      for (const v1::JobAttempt& a : result.kill) *reply.add_kill() = a;
      return reply;
    }
  }
  return std::nullopt;  // rows change: the writer path
}

std::vector<int64_t> ControlPlane::Unmarked(NodeEntry& entry, uint64_t mark) {
  std::vector<int64_t> out;
  for (auto it = entry.unmarked_launches.begin(); it != entry.unmarked_launches.end();) {
    if (it->second <= mark) {
      it = entry.unmarked_launches.erase(it);  // the worker has decided it: its list is the truth
    } else {
      out.push_back(it->first);
      ++it;
    }
  }
  return out;
}

v1::HeartbeatReply ControlPlane::Heartbeat(const v1::HeartbeatRequest& request) {
  if (auto reply = TryHeartbeat(request)) return std::move(*reply);
  // Rows change (a job lost, a health drain): the writer path, decided again under its lock.
  v1::HeartbeatReply reply;
  const std::vector<v1::JobAttempt> running(request.running().begin(), request.running().end());
  std::vector<WorkerCall> calls;
  {
    std::lock_guard<std::mutex> commit(commit_mu_);
    Edit edit;
    lifecycle::MissCounts misses;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = nodes_.find(request.node());
      if (it == nodes_.end() || it->second.session != request.session()) {
        reply.set_reregister(true);
        return reply;
      }
      NodeEntry& entry = it->second;
      reply.set_launch_fence(entry.LaunchFence());
      reply.set_fence_registration(entry.registration);
      misses = entry.misses;
      auto result = lifecycle_.OnHeartbeat(StateView(*this), request.node(), running, request.health(),
                                           Unmarked(entry, request.launch_mark()), misses, clock_->NowMs());
      for (const v1::JobAttempt& a : result.kill) *reply.add_kill() = a;
      edit = std::move(result.edit);
    }
    auto applied = LogAndApply(std::move(edit));
    if (!applied.ok()) return reply;  // the miss counts stay as they were: the next one retries
    calls = std::move(*applied);
    std::lock_guard<std::mutex> lock(mu_);
    nodes_[request.node()].misses = std::move(misses);
  }
  RunCalls(std::move(calls));
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
  // A writer: it changes a job row in place, which a concurrent LogAndApply would overwrite.
  std::lock_guard<std::mutex> commit(commit_mu_);
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
  return Change([&](const StateView& view, int64_t now) -> StatusOr<Edit> {
    return lifecycle_.OnRanksExited(view, request, now);
  });
}

// ---------------------------------------------------------------------------------------------
// Calls to workers

bool ControlPlane::LaunchStillWanted(const WorkerCall& call) {
  std::lock_guard<std::mutex> lock(mu_);
  auto n = nodes_.find(call.node);
  if (n == nodes_.end() || n->second.registration != call.launch.registration()) return false;
  auto j = jobs_.find(call.launch.job().id());
  return j != jobs_.end() && lifecycle::LaunchWanted(j->second, call.launch.job().attempt(), call.node);
}

void ControlPlane::LaunchFinished(const WorkerCall& call) {
  std::lock_guard<std::mutex> lock(mu_);
  auto n = nodes_.find(call.node);
  if (n == nodes_.end() || n->second.registration != call.launch.registration()) return;
  n->second.launches_in_flight.erase(call.launch.launch_seq());
}

bool ControlPlane::WorkerRefused(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
      return true;
    default:  // DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, INTERNAL, UNKNOWN: maybe processed
      return false;
  }
}

void ControlPlane::RunCalls(std::vector<WorkerCall> calls) {
  for (WorkerCall& call : calls) {
    const std::string node = call.node;
    calls_->Post(node, [this, call = std::move(call)] { RunCall(call); });
  }
}

void ControlPlane::RunCall(const WorkerCall& call) {
  if (call.kind != WorkerCall::kLaunch) {
    // Best effort: a worker that misses a kill learns of it from its next heartbeat's reply.
    (void)workers_->Kill(call.address, call.kill);
    return;
  }
  if (options_.fault_exit_before_launch) {
    std::fprintf(stderr, "loomd: fault injection: exiting after the commit, before Launch of job %lld\n",
                 static_cast<long long>(call.launch.job().id()));
    std::_Exit(86);
  }
  // A Launch sent late (behind a call to a hung worker) whose attempt loomd has stopped
  // meanwhile is dropped: its ranks would only be killed again.
  if (!LaunchStillWanted(call)) {
    LaunchFinished(call);
    return;
  }
  Status s = workers_->Launch(call.address, call.launch);
  LaunchFinished(call);
  if (s.ok()) return;
  const v1::Job& job = call.launch.job();
  const std::string detail = call.node + ": " + s.message();
  (void)Change([&](const StateView& view, int64_t now) -> StatusOr<Edit> {
    // A refusal by the worker is certain; a timeout or a broken connection may have started
    // the ranks: the attempt stops, and the node's heartbeats tell whether they run.
    if (WorkerRefused(s)) {
      return lifecycle_.OnRanksGone(view, job.id(), job.attempt(), call.node, v1::CAUSE_LAUNCH_FAILED,
                                    detail, now);
    }
    return lifecycle_.OnLaunchUncertain(view, job.id(), job.attempt(), call.node, detail, now);
  });
}

}  // namespace loom
