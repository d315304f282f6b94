// THE SEAM: the simulator's jobs live and end through scheduler/lifecycle, the module loomd drives.
// SimRows is the lifecycle's View over the simulator's own rows (an in-memory store): the
// simulator turns what happens on its virtual nodes into lifecycle events (submit, pass, ranks
// exited, node expired, lease expired, register), applies each Edit's rows here and its core
// changes to the scheduler core (lifecycle::ApplyToCore, as ControlPlane::LogAndApply does), and
// plays its worker calls on simulated nodes. So requeue, preemption, NODE_FAIL after the requeue
// budget and the release of a DOWN node's GPUs at its lease are loomd's, not a copy of them.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "scheduler/core/scheduler_core.h"
#include "scheduler/lifecycle/lifecycle.h"

namespace loom::sim {

class SimRows final : public lifecycle::View {
 public:
  explicit SimRows(const sched::Cluster& cluster) : cluster_(cluster) {}

  // One UP row per node of the cluster (names only: the simulator launches nothing).
  void AddNodes() {
    nodes_.resize(cluster_.size());
    for (int n = 0; n < cluster_.size(); ++n) {
      nodes_[n].set_name(cluster_.node(n).name);
      nodes_[n].set_state(v1::UP);
    }
  }
  const v1::Job* job(int64_t id) const override {
    auto it = jobs_.find(id);
    return it == jobs_.end() ? nullptr : &it->second;
  }
  const v1::Node* node(const std::string& name) const override {
    // Handlers walk a job's allocation in order, and placers fill nodes mostly in index order:
    // the node asked for is often the last one or the one after it, checked before hashing
    // (a hash lookup over 18,750 names is mostly cache misses).
    for (int guess : {last_, last_ + 1}) {
      if (guess >= 0 && guess < cluster_.size() && cluster_.node(guess).name == name) {
        last_ = guess;
        return &nodes_[guess];
      }
    }
    auto n = cluster_.Find(name);
    if (!n) return nullptr;
    last_ = *n;
    return &nodes_[*n];
  }
  const v1::Node& node(int n) const { return nodes_[n]; }
  std::vector<int64_t> JobsOn(const std::string& name) const override {
    auto n = cluster_.Find(name);
    if (!n) return {};
    std::vector<sched::JobId> ids = cluster_.JobsOn(*n);
    return {ids.begin(), ids.end()};
  }
  // The simulator installs every edit it gets (nothing can fail to commit) and reads no row
  // before it does: the handler may have the row itself instead of a copy.
  bool TakeJob(int64_t id, v1::Job* out) const override {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return false;
    *out = std::move(it->second);
    jobs_.erase(it);
    return true;
  }
  bool Placeable(const std::string& name) const override {
    auto n = cluster_.Find(name);
    return n && cluster_.node(*n).up;
  }
  // Installs an edit's rows, as the store's commit would. A released, finished job's row is
  // dropped: nothing reads it again (a late report of it is "unknown job", as for loomd after
  // MinJobAge), and 100,000 jobs' rows need not stay in memory.
  void Write(lifecycle::Edit& edit) {
    for (auto& [id, j] : edit.jobs) {
      if (lifecycle::IsTerminal(j.state()) && j.released()) {
        jobs_.erase(id);
      } else {
        // Only the current run is kept: the simulator records every attempt itself, and a row
        // of a job requeued thousands of times would otherwise be copied with all of them.
        if (j.runs_size() > 1) j.mutable_runs()->DeleteSubrange(0, j.runs_size() - 1);
        // Nor the run's node list (the allocation names them; no handler reads it): a row
        // copied per event of a job on N nodes then copies N names once, not twice.
        if (j.runs_size() == 1) j.mutable_runs(0)->clear_nodes();
        jobs_[id] = std::move(j);
      }
    }
    for (auto& [name, n] : edit.nodes) {
      if (auto i = cluster_.Find(name)) nodes_[*i] = std::move(n);
    }
  }

 private:
  const sched::Cluster& cluster_;
  std::vector<v1::Node> nodes_;
  mutable int last_ = -1;  // the node last looked up by name
  mutable std::unordered_map<int64_t, v1::Job> jobs_;  // mutable: TakeJob
};

}  // namespace loom::sim
