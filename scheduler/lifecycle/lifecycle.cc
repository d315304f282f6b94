#include "scheduler/lifecycle/lifecycle.h"

#include <algorithm>
#include <set>

#include "scheduler/lifecycle/translate.h"

namespace loom::lifecycle {
namespace {

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

const v1::JobRun* CurrentRun(const v1::Job& job) {
  return job.runs_size() > 0 ? &job.runs(job.runs_size() - 1) : nullptr;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

std::string CauseName(v1::EndCause c) {
  std::string name = v1::EndCause_Name(c);
  return name.rfind("CAUSE_", 0) == 0 ? name.substr(6) : name;
}

// Reads rows through the edit being built, so a handler sees its own changes.
class Builder {
 public:
  Builder(const View& view, Edit& edit, const Lifecycle& lc, int64_t now)
      : view_(view), edit_(edit), lc_(lc), now_(now) {}

  const v1::Job* job(int64_t id) const {
    auto it = edit_.jobs.find(id);
    return it != edit_.jobs.end() ? &it->second : view_.job(id);
  }
  v1::Job& mut(int64_t id) {
    auto it = edit_.jobs.find(id);
    if (it != edit_.jobs.end()) return it->second;
    return edit_.jobs[id] = *view_.job(id);
  }
  const v1::Node* node(const std::string& name) const {
    auto it = edit_.nodes.find(name);
    return it != edit_.nodes.end() ? &it->second : view_.node(name);
  }
  v1::Node& mut_node(const std::string& name) {
    auto it = edit_.nodes.find(name);
    if (it != edit_.nodes.end()) return it->second;
    return edit_.nodes[name] = *view_.node(name);
  }
  // Jobs still holding GPUs on `name` once this edit is applied.
  std::vector<int64_t> holding(const std::string& name) const {
    std::vector<int64_t> out;
    for (int64_t id : view_.JobsOn(name)) {
      const v1::Job* j = job(id);
      if (j && HasNode(*j, name) && !(IsTerminal(j->state()) && j->released())) out.push_back(id);
    }
    return out;
  }
  void event(int64_t job, const std::string& node, std::string what) {
    edit_.events.push_back({now_, job, node, std::move(what)});
  }
  void log(std::string line) { edit_.log.push_back(std::move(line)); }
  void core(CoreChange c) { edit_.core.push_back(std::move(c)); }

  // A node's ranks of `job` are known gone.
  bool quiet(const v1::Job& j, const std::string& name) const {
    return HasExited(j, name) || node(name) == nullptr;
  }
  bool all_quiet(const v1::Job& j) const {
    for (const auto& a : j.allocation()) {
      if (!quiet(j, a.node())) return false;
    }
    return true;
  }

  // Kill calls for the current attempt on each node that may still run its ranks and is
  // reachable (a DOWN node is told when it registers again, or kills them at its lease's end).
  void kill_remaining(const v1::Job& j, const std::string& reason, int64_t grace_ms) {
    for (const auto& a : j.allocation()) {
      if (quiet(j, a.node())) continue;
      const v1::Node* n = node(a.node());
      if (n->state() == v1::DOWN) continue;
      edit_.calls.push_back(KillCall(j, *n, reason, grace_ms));
    }
  }
  static WorkerCall KillCall(const v1::Job& j, const v1::Node& n, const std::string& reason,
                             int64_t grace_ms) {
    WorkerCall call{WorkerCall::kKill, n.name(), n.address(), {}, {}};
    call.kill.set_job_id(j.id());
    call.kill.set_attempt(j.attempt());
    call.kill.set_reason(reason);
    call.kill.set_grace_ms(grace_ms);
    return call;
  }

  // Closes the current run with `cause`.
  void end_run(v1::Job& j, v1::EndCause cause, const std::string& detail, bool lost) {
    if (j.runs_size() == 0) return;
    v1::JobRun* run = j.mutable_runs(j.runs_size() - 1);
    if (run->end_ms() == 0) run->set_end_ms(now_);
    run->set_cause(cause);
    run->set_detail(detail);
    run->set_lost(lost);
  }

  // Ends the job in `state`; kills what still runs; releases once every node is quiet.
  void finalize(int64_t id, v1::JobState state, int exit_code, const std::string& reason,
                v1::EndCause cause, const std::string& detail, int64_t grace_ms) {
    v1::Job& j = mut(id);
    if (Status s = Transition(j, state); !s.ok()) {
      log("lifecycle: " + s.message());
      return;
    }
    j.set_exit_code(exit_code);
    j.set_reason(reason);
    j.set_end_time_ms(now_);
    end_run(j, cause, detail, /*lost=*/state != v1::COMPLETED && state != v1::CANCELLED);
    std::string what = Lower(v1::JobState_Name(state));
    event(id, "", reason.empty() ? what : what + ": " + reason);
    kill_remaining(j, reason.empty() ? what : reason, grace_ms);
    settle(id);
  }

  // Stops the current attempt for `cause`: requeued once every node is quiet, or ended
  // NODE_FAIL when an infrastructure cause finds no requeue left.
  void stop_attempt(int64_t id, v1::EndCause cause, const std::string& detail, int64_t grace_ms) {
    const v1::Job* j = job(id);
    if (!j || PhaseOf(*j) != Phase::kRunning) return;
    const bool counted = cause != v1::CAUSE_PREEMPTED;
    if (counted && j->requeues() >= MaxRequeues(j->spec(), lc_.options().default_max_requeues)) {
      finalize(id, v1::NODE_FAIL, -1, "NodeFail: " + detail, cause, detail, grace_ms);
      return;
    }
    v1::Job& m = mut(id);
    v1::JobRun* run = m.mutable_runs(m.runs_size() - 1);
    run->set_cause(cause);
    run->set_detail(detail);
    m.set_reason("Requeueing: " + detail);
    event(id, "", "stopping attempt " + std::to_string(m.attempt()) + " (" + Lower(CauseName(cause)) +
                      "): " + detail);
    kill_remaining(m, cause == v1::CAUSE_PREEMPTED ? "Preempted" : "Requeue", grace_ms);
    settle(id);
  }

  // Requeues a stopping job, or releases an ended one, once no node runs its ranks.
  void settle(int64_t id) {
    const v1::Job* j = job(id);
    if (!j || !all_quiet(*j)) return;
    const Phase phase = PhaseOf(*j);
    if (phase != Phase::kPreempting && phase != Phase::kEnding) return;
    v1::Job& m = mut(id);
    std::vector<std::string> nodes;
    for (const auto& a : m.allocation()) nodes.push_back(a.node());
    if (phase == Phase::kEnding) {
      m.set_released(true);
      core({CoreChange::kFinish, id, m.end_time_ms() > 0 ? m.end_time_ms() : now_});
    } else {
      const v1::EndCause cause = CurrentRun(m)->cause();
      end_run(m, cause, CurrentRun(m)->detail(), /*lost=*/true);  // no checkpoints seen: lost
      const bool preempted = cause == v1::CAUSE_PREEMPTED;
      (void)Transition(m, v1::PENDING);
      m.set_eligible_time_ms(now_);
      m.clear_allocation();
      m.clear_exited_nodes();
      m.set_start_time_ms(0);
      m.set_preempted_for(0);
      if (preempted) {
        m.set_preemptions(m.preemptions() + 1);
      } else {
        m.set_requeues(m.requeues() + 1);
      }
      m.set_reason(preempted ? "Preempted" : "Requeued: " + CurrentRun(m)->detail());
      event(id, "", preempted ? "requeued after preemption"
                              : "requeued (" + Lower(CauseName(cause)) + ")");
      core({CoreChange::kRequeue, id, m.submit_time_ms(), now_});
    }
    for (const std::string& n : nodes) settle_node(n);
  }

  // A draining node with nothing left on it is DRAINED.
  void settle_node(const std::string& name) {
    const v1::Node* n = node(name);
    if (!n || n->state() != v1::DRAINING || !holding(name).empty()) return;
    v1::Node& m = mut_node(name);
    m.set_state(v1::DRAINED);
    m.set_state_since_ms(now_);
    event(0, name, "drained");
  }

  // The ranks of (id, attempt) on `name` are gone; `exit` carries the report if there was one.
  void ranks_gone(int64_t id, int attempt, const std::string& name, v1::EndCause cause,
                  const std::string& detail, const v1::ReportJobExitRequest* exit) {
    const v1::Job* j = job(id);
    if (!j) {
      log("lifecycle: report for unknown job " + std::to_string(id) + " from " + name + " ignored");
      return;
    }
    if (attempt != 0 && attempt != j->attempt()) {
      log("lifecycle: report of attempt " + std::to_string(attempt) + " of job " +
          std::to_string(id) + " from " + name + " ignored (current attempt " +
          std::to_string(j->attempt()) + ")");
      return;
    }
    if (!HasNode(*j, name) || HasExited(*j, name)) return;  // already known, or not its node
    v1::Job& m = mut(id);
    m.add_exited_nodes(name);
    if (PhaseOf(m) != Phase::kRunning) {
      settle(id);
      return;
    }
    if (!exit) {
      stop_attempt(id, cause, detail, 0);
      return;
    }
    const std::string& reason = exit->reason();
    const int grace = 0;
    if (reason == "TimeLimit") {
      finalize(id, v1::TIMEOUT, exit->exit_code(), "TimeLimit", v1::CAUSE_TIME_LIMIT,
               "time limit on " + name, grace);
    } else if (reason.rfind("LaunchFailed", 0) == 0) {
      stop_attempt(id, v1::CAUSE_LAUNCH_FAILED, name + ": " + reason, grace);
    } else if (exit->exit_code() != 0 || !reason.empty()) {
      std::string d = exit->signal() ? "signal " + std::to_string(exit->signal()) + " on " + name
                                     : "exit " + std::to_string(exit->exit_code()) + " on " + name;
      finalize(id, v1::FAILED, exit->exit_code(), reason.empty() ? "NonZeroExit" : reason,
               v1::CAUSE_RANK_FAILED, d, grace);
    } else {
      const v1::Job& cur = *job(id);
      const bool head = cur.allocation(0).node() == name;
      // An MPI job is over when mpirun, on the head node, exits.
      if (cur.exited_nodes_size() == cur.allocation_size() || (cur.spec().mpi() && head)) {
        finalize(id, v1::COMPLETED, 0, "", v1::CAUSE_COMPLETED, "", grace);
      }
    }
  }

  // Marks nodes drained; NOT_FOUND (nothing built) for an unknown one.
  void drain(const std::string& name, const std::string& reason, bool requeue, v1::EndCause cause) {
    v1::Node& n = mut_node(name);
    const bool was = n.drain();
    n.set_drain(true);
    n.set_reason(reason);
    if (n.state() == v1::UP) {
      n.set_state(v1::DRAINING);
      n.set_state_since_ms(now_);
    }
    if (!was) core({CoreChange::kSetPlaceable, 0, 0, 0, name, false});
    event(0, name, "drain: " + reason);
    log("lifecycle: node " + name + " drained: " + reason);
    if (requeue) {
      for (int64_t id : holding(name)) {
        const v1::Job* j = job(id);
        stop_attempt(id, cause, "node " + name + " drained: " + reason, lc_.GraceMs(*j));
      }
    }
    settle_node(name);
  }

 private:
  const View& view_;
  Edit& edit_;
  const Lifecycle& lc_;
  const int64_t now_;
};

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
    v1::JobRun* run = j.add_runs();
    j.set_attempt(j.runs_size());
    run->set_attempt(j.attempt());
    run->set_eligible_ms(j.eligible_time_ms() ? j.eligible_time_ms() : j.submit_time_ms());
    run->set_start_ms(now);
    run->set_gpus(j.spec().gpus());
    run->set_peak_flops(peak);
    for (const auto& a : j.allocation()) run->add_nodes(a.node());
    b.event(d.id, head, "started attempt " + std::to_string(j.attempt()));
    for (int i = 0; i < j.allocation_size(); ++i) {
      if (!nodes[i]) continue;
      WorkerCall call{WorkerCall::kLaunch, nodes[i]->name(), nodes[i]->address(), {}, {}};
      *call.launch.mutable_job() = j;
      call.launch.set_node_index(i);
      for (const v1::Node* n : nodes) {
        if (n) *call.launch.add_nodes() = *n;
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
    v1::Job& j = b.mut(id);
    (void)Transition(j, v1::CANCELLED);
    j.set_end_time_ms(now);
    j.set_reason("Cancelled");
    j.set_released(true);
    b.event(id, "", "cancelled");
    b.core({CoreChange::kRemovePending, id});
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

Edit Lifecycle::OnRanksGone(const View& view, int64_t job, int attempt, const std::string& node,
                            v1::EndCause cause, const std::string& detail, int64_t now) const {
  Edit edit;
  Builder b(view, edit, *this, now);
  b.ranks_gone(job, attempt, node, cause, detail, nullptr);
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
  b.core({CoreChange::kSetPlaceable, 0, 0, 0, in.name(), !row.drain()});
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
                                                  const v1::NodeHealth& health, MissCounts& misses,
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
