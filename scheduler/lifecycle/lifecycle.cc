#include "scheduler/lifecycle/lifecycle.h"

#include <algorithm>
#include <set>

#include "scheduler/lifecycle/edit_builder.h"
#include "scheduler/lifecycle/translate.h"

namespace loom::lifecycle {
namespace {

using internal::Builder;
using internal::CurrentRun;
using internal::HasExited;
using internal::HasNode;

bool Listed(const std::vector<v1::JobAttempt>& running, const v1::Job& job) {
  for (const v1::JobAttempt& a : running) {
    if (a.job_id() == job.id() && (a.attempt() == 0 || a.attempt() == job.attempt())) return true;
  }
  return false;
}

// The lowest port of the job's range that no other job holding the head node uses.
int PickMasterPort(const Builder& b, const std::string& head, int64_t id,
                   const std::set<int>& taken_now) {
  std::set<int> used = taken_now;
  for (int64_t other : b.holding(head)) {
    const v1::Job* o = b.job(other);
    if (other != id && o && o->state() == v1::RUNNING) used.insert(o->master_port());
  }
  const int first = static_cast<int>(id % kMasterPortRange);
  for (int i = 0; i < kMasterPortRange; ++i) {
    int port = kMasterPortBase + (first + i) % kMasterPortRange;
    if (!used.count(port)) return port;
  }
  return kMasterPortBase + first;  // 10,000 jobs on one head node: cannot happen (64 GPUs)
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Phase PhaseOf(const v1::Job& job) {
  switch (job.state()) {
    case v1::PENDING: return Phase::kPending;
    case v1::RUNNING: {
      const v1::JobRun* run = CurrentRun(job);
      const bool stopping = job.preempted_for() != 0 || (run && run->cause() != v1::END_CAUSE_UNSPECIFIED);
      return stopping ? Phase::kPreempting : Phase::kRunning;
    }
    default: return job.released() || job.allocation_size() == 0 ? Phase::kDone : Phase::kEnding;
  }
}

bool LaunchWanted(const v1::Job& job, int attempt, const std::string& node) {
  return job.attempt() == attempt && PhaseOf(job) == Phase::kRunning && HasNode(job, node) &&
         !HasExited(job, node);
}

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kPending: return "pending";
    case Phase::kRunning: return "running";
    case Phase::kPreempting: return "preempting";
    case Phase::kEnding: return "ending";
    case Phase::kDone: return "done";
  }
  return "?";
}

bool IsTerminal(v1::JobState s) {
  return s == v1::COMPLETED || s == v1::FAILED || s == v1::CANCELLED || s == v1::NODE_FAIL ||
         s == v1::TIMEOUT;
}

bool IsValidTransition(v1::JobState from, v1::JobState to) {
  switch (from) {
    case v1::PENDING: return to == v1::RUNNING || to == v1::CANCELLED;
    case v1::RUNNING: return to == v1::PENDING || IsTerminal(to);  // PENDING: requeue
    default: return false;
  }
}

Status Transition(v1::Job& job, v1::JobState to) {
  if (!IsValidTransition(job.state(), to)) {
    if (IsTerminal(job.state())) {
      return FailedPrecondition("job " + std::to_string(job.id()) + " already ended (" +
                                v1::JobState_Name(job.state()) + ")");
    }
    return FailedPrecondition("job " + std::to_string(job.id()) + " cannot go from " +
                              v1::JobState_Name(job.state()) + " to " + v1::JobState_Name(to));
  }
  job.set_state(to);
  return Status::Ok();
}

bool IsInfrastructure(v1::EndCause cause) {
  return cause == v1::CAUSE_NODE_FAIL || cause == v1::CAUSE_LAUNCH_FAILED ||
         cause == v1::CAUSE_WORKER_LOST || cause == v1::CAUSE_HEALTH_DRAIN;
}

int MaxRequeues(const v1::JobSpec& spec, int default_max) {
  if (spec.no_requeue()) return 0;
  return spec.has_max_requeues() ? std::max(0, spec.max_requeues()) : default_max;
}

int64_t Lifecycle::GraceMs(const v1::Job& job) const {
  const int64_t want = job.spec().grace_s() > 0 ? job.spec().grace_s() * 1000 : options_.default_grace_ms;
  return std::min(want, options_.max_grace_ms);
}

const v1::Job* EditView::job(int64_t id) const {
  auto it = edit_.jobs.find(id);
  return it != edit_.jobs.end() ? &it->second : base_.job(id);
}

const v1::Node* EditView::node(const std::string& name) const {
  auto it = edit_.nodes.find(name);
  return it != edit_.nodes.end() ? &it->second : base_.node(name);
}

std::vector<int64_t> EditView::ArrayTasks(int64_t array) const {
  std::vector<int64_t> ids = base_.ArrayTasks(array);
  // An array submitted in this edit is not in the base yet.
  if (ids.empty()) {
    for (const auto& [id, j] : edit_.jobs) {
      if (j.array().array_job_id() == array) ids.push_back(id);
    }
  }
  return ids;
}

std::vector<int64_t> EditView::Waiting() const {
  std::set<int64_t> ids;
  for (int64_t id : base_.Waiting()) ids.insert(id);
  for (const auto& [id, j] : edit_.jobs) ids.insert(id);  // callers read each row again
  return {ids.begin(), ids.end()};
}

void Edit::Merge(Edit other) {
  for (auto& [id, j] : other.jobs) jobs[id] = std::move(j);
  for (auto& [name, n] : other.nodes) nodes[name] = std::move(n);
  for (auto& e : other.events) events.push_back(std::move(e));
  for (auto& c : other.core) core.push_back(std::move(c));
  for (auto& c : other.calls) calls.push_back(std::move(c));
  for (auto& l : other.log) log.push_back(std::move(l));
}

Status ApplyToCore(const Edit& edit, sched::SchedulerCore& core) {
  Status first = Status::Ok();
  auto note = [&](Status s) {
    if (!s.ok() && first.ok()) first = std::move(s);
  };
  for (const CoreChange& c : edit.core) {
    switch (c.kind) {
      case CoreChange::kAddPending: {
        auto it = edit.jobs.find(c.job);
        if (it == edit.jobs.end()) {
          note(Internal("core change for job " + std::to_string(c.job) + " without its row"));
          break;
        }
        auto request = RequestOf(it->second.spec());
        note(request.ok() ? core.AddPending(c.job, *request, c.time) : request.status());
        break;
      }
      case CoreChange::kRemovePending: note(core.RemovePending(c.job)); break;
      case CoreChange::kFinish: core.Finish(c.job, c.time > 0 ? std::optional<int64_t>(c.time) : std::nullopt); break;
      case CoreChange::kRequeue: note(core.Requeue(c.job, c.time, c.end_time)); break;
      case CoreChange::kMarkPreempting: core.MarkPreempting(c.job); break;
      case CoreChange::kSetPlaceable:
        if (auto index = core.cluster().Find(c.node)) core.cluster().SetUp(*index, c.placeable);
        break;
    }
  }
  return first;
}

// ---------------------------------------------------------------------------------------------
// Handlers

Edit Lifecycle::OnSubmit(v1::Job job, int64_t now) const {
  Edit edit;
  job.set_state(v1::PENDING);
  job.set_submit_time_ms(now);
  job.set_eligible_time_ms(now);
  const int64_t id = job.id();
  edit.events.push_back({now, id, "", "submitted"});
  edit.core.push_back({CoreChange::kAddPending, id, now});
  edit.jobs[id] = std::move(job);
  return edit;
}

Edit Lifecycle::OnPass(const View& view, const sched::Cluster& cluster, const sched::PassResult& pass,
                       int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  for (const sched::Preemption& p : pass.preemptions) {
    const v1::Job* victim = b.job(p.victim);
    if (!victim || PhaseOf(*victim) != Phase::kRunning) continue;
    v1::Job& v = b.mut(p.victim);
    v.set_preempted_for(p.for_job);
    v.set_reason("Preempting for job " + std::to_string(p.for_job));
    v.mutable_runs(v.runs_size() - 1)->set_cause(v1::CAUSE_PREEMPTED);
    v.mutable_runs(v.runs_size() - 1)->set_detail("preempted for job " + std::to_string(p.for_job));
    b.event(p.victim, "", "preempting for job " + std::to_string(p.for_job));
    b.kill_remaining(v, "Preempted", GraceMs(v));
  }
  std::map<std::string, std::set<int>> ports;  // taken by this pass, per head node
  for (const sched::StartDecision& d : pass.starts) {
    v1::Job& j = b.mut(d.id);
    if (Status s = Transition(j, v1::RUNNING); !s.ok()) {
      b.log("lifecycle: " + s.message());
      continue;
    }
    j.set_start_time_ms(now);
    j.set_end_time_ms(0);
    j.set_reason("");
    FillAllocation(d.allocation, cluster, j);
    std::vector<const v1::Node*> nodes;
    double peak = 0;
    for (const auto& a : j.allocation()) {
      const v1::Node* n = b.node(a.node());
      nodes.push_back(n);
      for (int g : a.gpu_indices()) {
        if (n && g >= 0 && g < n->gpus_size()) peak += PeakFlops(n->gpus(g));
      }
    }
    const std::string& head = j.allocation(0).node();
    j.set_master_port(PickMasterPort(b, head, d.id, ports[head]));
    ports[head].insert(j.master_port());
    // The next attempt after the row's: a store may keep only the latest run (loom-sim does).
    const int attempt = std::max(j.attempt(), j.runs_size()) + 1;
    v1::JobRun* run = j.add_runs();
    j.set_attempt(attempt);
    run->set_attempt(j.attempt());
    run->set_eligible_ms(j.eligible_time_ms() ? j.eligible_time_ms() : j.submit_time_ms());
    run->set_start_ms(now);
    run->set_gpus(j.spec().gpus());
    run->set_peak_flops(peak);
    for (const auto& a : j.allocation()) run->add_nodes(a.node());
    b.event(d.id, head, "started attempt " + std::to_string(j.attempt()));
    edit.calls.reserve(edit.calls.size() + j.allocation_size());  // a call is large to move
    for (int i = 0; i < j.allocation_size(); ++i) {
      if (!nodes[i]) continue;
      WorkerCall call{WorkerCall::kLaunch, nodes[i]->name(), nodes[i]->address(), {}, {}};
      call.launch.set_node_index(i);
      if (options_.launch_rows) {
        *call.launch.mutable_job() = j;
        for (const v1::Node* n : nodes) {
          if (n) *call.launch.add_nodes() = *n;
        }
      } else {
        call.launch.mutable_job()->set_id(j.id());
        call.launch.mutable_job()->set_attempt(j.attempt());
      }
      edit.calls.push_back(std::move(call));
    }
  }
  return edit;
}

StatusOr<Edit> Lifecycle::OnCancel(const View& view, int64_t id, int64_t now) const {
  const v1::Job* job = view.job(id);
  if (!job) return NotFound("no job " + std::to_string(id));
  if (!IsValidTransition(job->state(), v1::CANCELLED)) {
    v1::Job copy = *job;
    return Transition(copy, v1::CANCELLED);  // the error
  }
  Edit edit;
  Builder b(view, edit, *this, now);
  if (job->state() == v1::PENDING) {
    b.cancel_pending(id, "Cancelled");
    return edit;
  }
  b.finalize(id, v1::CANCELLED, 0, "Cancelled", v1::CAUSE_CANCELLED, "cancelled", GraceMs(*job));
  return edit;
}

Edit Lifecycle::OnRanksExited(const View& view, const v1::ReportJobExitRequest& report,
                              int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  b.ranks_gone(report.job_id(), report.attempt(), report.node(), v1::END_CAUSE_UNSPECIFIED, "", &report);
  return edit;
}

Edit Lifecycle::OnRanksExited(const View& view, const std::vector<v1::ReportJobExitRequest>& reports,
                              int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  b.defer_settle(true);
  for (const v1::ReportJobExitRequest& r : reports) {
    b.ranks_gone(r.job_id(), r.attempt(), r.node(), v1::END_CAUSE_UNSPECIFIED, "", &r);
  }
  b.defer_settle(false);
  return edit;
}

Edit Lifecycle::OnAttemptExited(const View& view, const v1::ReportJobExitRequest& report,
                                int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  b.attempt_exited(report.job_id(), report.attempt(), report);
  return edit;
}

Edit Lifecycle::OnRanksGone(const View& view, int64_t job, int attempt, const std::string& node,
                            v1::EndCause cause, const std::string& detail, int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  b.ranks_gone(job, attempt, node, cause, detail, nullptr);
  // A node whose worker could not start ranks is fenced until its next heartbeat: otherwise the
  // next pass may place the requeued job there again at once and spend its whole requeue budget
  // on a worker that died moments before its node times out (found by the chaos test).
  if (cause == v1::CAUSE_LAUNCH_FAILED && view.Placeable(node)) {
    b.core({CoreChange::kSetPlaceable, 0, 0, 0, node, false});
  }
  return edit;
}

Edit Lifecycle::OnLaunchUncertain(const View& view, int64_t job, int attempt, const std::string& node,
                                  const std::string& detail, int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  const v1::Job* j = b.job(job);
  if (!j || !LaunchWanted(*j, attempt, node)) return edit;  // stopped meanwhile: nothing to decide
  b.stop_attempt(job, v1::CAUSE_LAUNCH_FAILED, detail, 0);   // kills on every node, this one too
  if (view.Placeable(node)) b.core({CoreChange::kSetPlaceable, 0, 0, 0, node, false});
  return edit;
}

Edit Lifecycle::OnNodeExpired(const View& view, const std::string& name, int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  const v1::Node* n = b.node(name);
  if (!n || n->state() == v1::DOWN) return edit;
  v1::Node& m = b.mut_node(name);
  m.set_state(v1::DOWN);
  m.set_state_since_ms(now);
  if (!m.drain()) m.set_reason("no heartbeat");
  b.core({CoreChange::kSetPlaceable, 0, 0, 0, name, false});
  b.event(0, name, "down: no heartbeat");
  b.log("loomd: node " + name + " is DOWN (no heartbeat)");
  for (int64_t id : b.holding(name)) {
    const v1::Job* j = b.job(id);
    if (HasExited(*j, name)) continue;
    b.stop_attempt(id, v1::CAUSE_NODE_FAIL, "node " + name + " DOWN", 0);
  }
  return edit;
}

Edit Lifecycle::OnLeaseExpired(const View& view, const std::string& name, int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  const v1::Node* n = b.node(name);
  if (!n || n->state() != v1::DOWN) return edit;
  for (int64_t id : b.holding(name)) {
    const v1::Job* j = b.job(id);
    if (HasExited(*j, name)) continue;
    b.ranks_gone(id, j->attempt(), name, v1::CAUSE_NODE_FAIL,
                 "node " + name + " DOWN past its lease", nullptr);
  }
  return edit;
}

Edit Lifecycle::OnRegister(const View& view, const v1::Node& in,
                           const std::vector<v1::JobAttempt>& running, int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  const v1::Node* old = view.node(in.name());
  v1::Node row = in;
  row.clear_allocated_gpus();
  row.set_drain(old && old->drain());
  row.set_reason(old && old->drain() ? old->reason() : "");
  row.set_state(row.drain() ? v1::DRAINING : v1::UP);
  row.set_state_since_ms(old && old->state() == row.state() ? old->state_since_ms() : now);
  edit.nodes[in.name()] = row;
  // Ranks of attempts loomd does not hold here still run: the GPUs wait until they are gone.
  bool stale = false;
  for (const v1::JobAttempt& a : running) {
    const v1::Job* j = b.job(a.job_id());
    const bool current = j && (a.attempt() == 0 || a.attempt() == j->attempt());
    stale = stale || !current || !HasNode(*j, in.name()) || HasExited(*j, in.name());
  }
  if (stale) b.log("lifecycle: node " + in.name() + " still runs old attempts: not placeable until they are gone");
  b.core({CoreChange::kSetPlaceable, 0, 0, 0, in.name(), !row.drain() && !stale});
  b.event(0, in.name(), "registered " + in.address());
  for (int64_t id : b.holding(in.name())) {
    const v1::Job* j = b.job(id);
    if (HasExited(*j, in.name())) continue;  // its ranks here ended; it waits for other nodes
    if (Listed(running, *j)) {
      // Still runs here: kill it if loomd wants this attempt gone (a kill lost with a restart).
      if (PhaseOf(*j) != Phase::kRunning) {
        edit.calls.push_back(Builder::KillCall(*j, row, j->preempted_for() ? "Preempted" : "Requeue",
                                               GraceMs(*j)));
      }
      continue;
    }
    b.ranks_gone(id, j->attempt(), in.name(), v1::CAUSE_WORKER_LOST,
                 "worker on " + in.name() + " lost the job", nullptr);
  }
  b.settle_node(in.name());
  return edit;
}

Lifecycle::HeartbeatResult Lifecycle::OnHeartbeat(const View& view, const std::string& name,
                                                  const std::vector<v1::JobAttempt>& running,
                                                  const v1::NodeHealth& health,
                                                  const std::vector<int64_t>& unmarked, MissCounts& misses,
                                                  int64_t now) const {
  HeartbeatResult out;
  Builder b(view, out.edit, *this, now);
  // Ranks loomd does not hold here (or holds for an attempt that is being stopped) are killed.
  for (const v1::JobAttempt& a : running) {
    const v1::Job* j = b.job(a.job_id());
    const bool current = j && (a.attempt() == 0 || a.attempt() == j->attempt());
    if (!current || !HasNode(*j, name) || HasExited(*j, name) || PhaseOf(*j) != Phase::kRunning) {
      out.kill.push_back(a);
    }
  }
  // Attempts loomd holds here that the node stopped listing, two heartbeats running, are gone.
  MissCounts next;
  for (int64_t id : b.holding(name)) {
    const v1::Job* j = b.job(id);
    if (HasExited(*j, name) || Listed(running, *j)) continue;
    auto it = misses.find(id);
    if (std::find(unmarked.begin(), unmarked.end(), id) != unmarked.end()) {
      if (it != misses.end()) next[id] = it->second;  // its Launch may still be on its way
      continue;
    }
    const int count = (it == misses.end() ? 0 : it->second) + 1;
    if (count < 2) {
      next[id] = count;
      continue;
    }
    b.ranks_gone(id, j->attempt(), name, v1::CAUSE_WORKER_LOST,
                 "worker on " + name + " stopped listing the job", nullptr);
  }
  misses = std::move(next);
  const v1::Node* n = b.node(name);
  // A node fenced at register (old attempts still ran there) is placeable once none is listed.
  if (n && n->state() == v1::UP && !n->drain() && out.kill.empty() && !view.Placeable(name)) {
    b.core({CoreChange::kSetPlaceable, 0, 0, 0, name, true});
  }
  if (n && health.failing() && !n->drain()) {
    b.drain(name, health.reason().empty() ? "health check failed" : health.reason(),
            /*requeue=*/true, v1::CAUSE_HEALTH_DRAIN);
  }
  b.settle_node(name);
  return out;
}

StatusOr<Edit> Lifecycle::OnDrain(const View& view, const std::vector<std::string>& nodes,
                                  const std::string& reason, bool requeue, int64_t now) const {
  if (nodes.empty()) return InvalidArgument("name at least one node to drain");
  for (const std::string& name : nodes) {
    if (!view.node(name)) return NotFound("no node " + name);
  }
  Edit edit;
  Builder b(view, edit, *this, now);
  for (const std::string& name : nodes) {
    b.drain(name, reason.empty() ? "drained by an administrator" : reason, requeue,
            v1::CAUSE_HEALTH_DRAIN);
  }
  return edit;
}

StatusOr<Edit> Lifecycle::OnResume(const View& view, const std::vector<std::string>& nodes,
                                   int64_t now) const {
  if (nodes.empty()) return InvalidArgument("name at least one node to resume");
  for (const std::string& name : nodes) {
    if (!view.node(name)) return NotFound("no node " + name);
  }
  Edit edit;
  Builder b(view, edit, *this, now);
  for (const std::string& name : nodes) {
    v1::Node& n = b.mut_node(name);
    n.set_drain(false);
    n.set_reason("");
    if (n.state() == v1::DRAINING || n.state() == v1::DRAINED) {
      n.set_state(v1::UP);
      n.set_state_since_ms(now);
    }
    b.core({CoreChange::kSetPlaceable, 0, 0, 0, name, n.state() == v1::UP});
    b.event(0, name, "resumed");
  }
  return edit;
}

}  // namespace loom::lifecycle
