// Builder: the steps the lifecycle's handlers share (stop an attempt, end a job, settle it
// once its nodes are quiet, drain a node), building one Edit while reading the rows through it.
// Internal to scheduler/lifecycle.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scheduler/lifecycle/lifecycle.h"

namespace loom::lifecycle::internal {

inline bool HasNode(const v1::Job& job, const std::string& node) {
  for (const auto& a : job.allocation()) {
    if (a.node() == node) return true;
  }
  return false;
}

inline bool HasExited(const v1::Job& job, const std::string& node) {
  const auto& exited = job.exited_nodes();
  return std::find(exited.begin(), exited.end(), node) != exited.end();
}

inline const v1::JobRun* CurrentRun(const v1::Job& job) {
  return job.runs_size() > 0 ? &job.runs(job.runs_size() - 1) : nullptr;
}

inline std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

inline std::string CauseName(v1::EndCause c) {
  std::string name = v1::EndCause_Name(c);
  return name.rfind("CAUSE_", 0) == 0 ? name.substr(6) : name;
}

// A job's exited nodes, for asking of each of its N nodes: a scan while there are few, a set
// once there are many (N nodes asked of N−1 exited ones: O(N²) string compares otherwise, the
// whole cost of a requeue at 18,000 nodes).
class ExitedSet {
 public:
  explicit ExitedSet(const v1::Job& j) : job_(j) {
    if (j.exited_nodes_size() > kScan) set_.insert(j.exited_nodes().begin(), j.exited_nodes().end());
  }
  bool has(const std::string& node) const {
    return job_.exited_nodes_size() > kScan ? set_.count(node) != 0 : HasExited(job_, node);
  }

 private:
  static constexpr int kScan = 8;
  const v1::Job& job_;
  std::unordered_set<std::string_view> set_;
};

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
    v1::Job& row = edit_.jobs[id];
    if (!view_.TakeJob(id, &row)) row = *view_.job(id);
    return row;
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

  // Every node's ranks of `j` are known gone (it exited, or the node is no more).
  bool all_quiet(const v1::Job& j) const {
    // Exited nodes are distinct nodes of the allocation (ranks_gone adds each once).
    if (j.exited_nodes_size() == j.allocation_size()) return true;
    const ExitedSet exited(j);
    for (const auto& a : j.allocation()) {
      if (!exited.has(a.node()) && node(a.node()) != nullptr) return false;
    }
    return true;
  }

  // Kill calls for the current attempt on each node that may still run its ranks and is
  // reachable (a DOWN node is told when it registers again, or kills them at its lease's end).
  void kill_remaining(const v1::Job& j, const std::string& reason, int64_t grace_ms) {
    edit_.calls.reserve(edit_.calls.size() + j.allocation_size());  // a call is large to move
    const ExitedSet exited(j);
    for (const auto& a : j.allocation()) {
      if (exited.has(a.node())) continue;
      const v1::Node* n = node(a.node());  // one lookup a node: this runs for every node of a job
      if (n == nullptr || n->state() == v1::DOWN) continue;
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

  // Cancels a PENDING job: out of the core's queue if it was in it.
  void cancel_pending(int64_t id, const std::string& reason) {
    v1::Job& j = mut(id);
    const bool queued = j.wait() == v1::WAIT_NONE;
    (void)Transition(j, v1::CANCELLED);
    j.set_end_time_ms(now_);
    j.set_reason(reason);
    j.set_released(true);
    j.set_wait(v1::WAIT_NONE);
    event(id, "", reason == "Cancelled" ? "cancelled" : "cancelled: " + reason);
    if (queued) core({CoreChange::kRemovePending, id});
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

  // While deferred, settle() only notes the job; turning deferral off settles each noted job
  // once (a batch of exit reports checks "every node quiet" once, not once per report).
  void defer_settle(bool on) {
    defer_ = on;
    if (on) return;
    std::vector<int64_t> ids = std::move(deferred_);
    deferred_.clear();
    sets_.clear();
    for (int64_t id : ids) settle(id);
  }

  // Requeues a stopping job, or releases an ended one, once no node runs its ranks.
  void settle(int64_t id) {
    if (defer_) {
      if (std::find(deferred_.begin(), deferred_.end(), id) == deferred_.end()) deferred_.push_back(id);
      return;
    }
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
    if (!has_node(*j, name) || exited(*j, name)) return;  // already known, or not its node
    v1::Job& m = mut(id);
    m.add_exited_nodes(name);
    if (defer_) sets(m).exited.insert(name);
    decide_exit(id, name, cause, detail, exit);
  }

  // The ranks of (id, attempt) exited, as `exit` says, on every node of the attempt that still
  // ran them and is not DOWN (a DOWN node reports nothing): what the reports of every reachable
  // worker after a job-wide kill or end say, decided as those reports one by one would, but
  // marking the nodes in one pass with no per-node report or set. Nodes whose reports came first
  // are exited before the decision, so no kill is sent to a node whose ranks are gone.
  void attempt_exited(int64_t id, int attempt, const v1::ReportJobExitRequest& exit) {
    const v1::Job* j = job(id);
    if (!j) {
      log("lifecycle: report for unknown job " + std::to_string(id) + " ignored");
      return;
    }
    if (attempt != 0 && attempt != j->attempt()) {
      log("lifecycle: report of attempt " + std::to_string(attempt) + " of job " + std::to_string(id) +
          " ignored (current attempt " + std::to_string(j->attempt()) + ")");
      return;
    }
    const ExitedSet before(*j);
    std::vector<const std::string*> now_exited;
    for (const auto& a : j->allocation()) {
      if (before.has(a.node())) continue;
      const v1::Node* n = node(a.node());
      if (n != nullptr && n->state() == v1::DOWN) continue;
      now_exited.push_back(&a.node());
    }
    if (now_exited.empty()) return;
    // An MPI job ends when its head's mpirun exits: decide on the head's report if it is here.
    const std::string& head = j->allocation(0).node();
    const bool head_here = std::any_of(now_exited.begin(), now_exited.end(),
                                       [&](const std::string* n) { return *n == head; });
    const std::string first = head_here ? head : *now_exited.front();
    std::vector<std::string> names;
    names.reserve(now_exited.size());
    for (const std::string* name : now_exited) names.push_back(*name);
    v1::Job& m = mut(id);  // `j` is no longer to be read: the view may have handed its row over
    for (std::string& name : names) m.add_exited_nodes(std::move(name));
    decide_exit(id, first, v1::END_CAUSE_UNSPECIFIED, "", &exit);
  }

  // After the ranks on `name` are gone (already marked exited): the job's next step.
  void decide_exit(int64_t id, const std::string& name, v1::EndCause cause, const std::string& detail,
                   const v1::ReportJobExitRequest* exit) {
    const v1::Job& m = *job(id);
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
  // HasNode and HasExited, O(1) during a batch: N reports of one job scan no list N times.
  struct NodeSets {
    std::unordered_set<std::string> nodes, exited;
  };
  NodeSets& sets(const v1::Job& j) {
    auto it = sets_.find(j.id());
    if (it != sets_.end()) return it->second;
    NodeSets& s = sets_[j.id()];
    for (const auto& a : j.allocation()) s.nodes.insert(a.node());
    s.exited.insert(j.exited_nodes().begin(), j.exited_nodes().end());
    return s;
  }
  bool has_node(const v1::Job& j, const std::string& name) {
    return defer_ ? sets(j).nodes.count(name) != 0 : HasNode(j, name);
  }
  bool exited(const v1::Job& j, const std::string& name) {
    return defer_ ? sets(j).exited.count(name) != 0 : HasExited(j, name);
  }

  bool defer_ = false;
  std::vector<int64_t> deferred_;
  std::unordered_map<int64_t, NodeSets> sets_;
};

}  // namespace loom::lifecycle::internal
