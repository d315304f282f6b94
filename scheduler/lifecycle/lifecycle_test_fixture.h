// The lifecycle tests' fixture: a View over plain maps (installing edits as LogAndApply would)
// and three 4-GPU nodes with helpers for running jobs and exit reports. Shared by
// lifecycle_test.cc (jobs: exits, causes, starts, cancel) and lifecycle_nodes_test.cc (nodes:
// failure, partitions, heartbeats, health, drain).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "scheduler/lifecycle/lifecycle.h"

namespace loom::lifecycle::test_support {

constexpr int64_t kNow = 1'000'000;

class MapView final : public View {
 public:
  const v1::Job* job(int64_t id) const override {
    auto it = jobs.find(id);
    return it == jobs.end() ? nullptr : &it->second;
  }
  const v1::Node* node(const std::string& name) const override {
    auto it = nodes.find(name);
    return it == nodes.end() ? nullptr : &it->second;
  }
  std::vector<int64_t> JobsOn(const std::string& name) const override {
    std::vector<int64_t> out;
    for (const auto& [id, j] : jobs) {
      if (IsTerminal(j.state()) && j.released()) continue;
      for (const auto& a : j.allocation()) {
        if (a.node() == name) out.push_back(id);
      }
    }
    return out;
  }
  bool Placeable(const std::string& name) const override { return !unplaceable.count(name); }
  // Installs an edit's rows and placeability, as LogAndApply does after its commit.
  void Apply(const Edit& edit) {
    for (const auto& [id, j] : edit.jobs) jobs[id] = j;
    for (const auto& [name, n] : edit.nodes) nodes[name] = n;
    for (const CoreChange& c : edit.core) {
      if (c.kind != CoreChange::kSetPlaceable) continue;
      if (c.placeable) {
        unplaceable.erase(c.node);
      } else {
        unplaceable.insert(c.node);
      }
    }
  }
  std::set<std::string> unplaceable;
  std::map<int64_t, v1::Job> jobs;
  std::map<std::string, v1::Node> nodes;
};

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"n0", "n1", "n2"}) {
      v1::Node n;
      n.set_name(name);
      n.set_address(std::string(name) + ":1");
      n.set_state(v1::UP);
      for (int g = 0; g < 4; ++g) n.add_gpus()->set_index(g);
      view.nodes[name] = n;
    }
  }

  // A job running attempt `attempt` on `nodes` (4 GPUs each), submitted at 10.
  v1::Job& Running(int64_t id, std::vector<std::string> nodes, int attempt = 1) {
    v1::Job& j = view.jobs[id];
    j.set_id(id);
    j.set_state(v1::RUNNING);
    j.set_submit_time_ms(10);
    j.mutable_spec()->set_gpus(4 * static_cast<int>(nodes.size()));
    j.mutable_spec()->set_gpus_per_node(4);
    j.mutable_spec()->add_command("/bin/true");
    j.set_attempt(attempt);
    j.set_start_time_ms(500);
    for (int a = 1; a <= attempt; ++a) {
      v1::JobRun* run = j.add_runs();
      run->set_attempt(a);
      run->set_start_ms(100 * a);
      if (a < attempt) {
        run->set_end_ms(100 * a + 50);
        run->set_cause(v1::CAUSE_NODE_FAIL);
      }
    }
    for (const std::string& n : nodes) {
      auto* alloc = j.add_allocation();
      alloc->set_node(n);
      for (int g = 0; g < 4; ++g) alloc->add_gpu_indices(g);
    }
    return j;
  }

  v1::ReportJobExitRequest Exit(int64_t id, const std::string& node, int code,
                                const std::string& reason = "", int attempt = 1) {
    v1::ReportJobExitRequest r;
    r.set_job_id(id);
    r.set_node(node);
    r.set_exit_code(code);
    r.set_reason(reason);
    r.set_attempt(attempt);
    return r;
  }

  static bool HasCore(const Edit& e, CoreChange::Kind kind, int64_t job) {
    for (const CoreChange& c : e.core) {
      if (c.kind == kind && c.job == job) return true;
    }
    return false;
  }
  static int Kills(const Edit& e, const std::string& node) {
    int n = 0;
    for (const WorkerCall& c : e.calls) n += c.kind == WorkerCall::kKill && c.node == node;
    return n;
  }

  MapView view;
  Lifecycle lc;
};

}  // namespace loom::lifecycle::test_support
