// The ControlPlane tests' fixture: a ControlPlane over SQLite in a temporary folder, a fake clock
// and fake workers, three 4-GPU nodes registered (1 TFLOP/s each), and helpers for submissions,
// heartbeats, exits and a preemption in progress. Shared by control_plane_test.cc (jobs and
// nodes), control_plane_accounting_test.cc and control_plane_preemption_test.cc.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/service/control_plane.h"
#include "scheduler/service/testing_fakes.h"

namespace loom::test_support {

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-cp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Open();
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(RegisterNode("n" + std::to_string(i), "s" + std::to_string(i), {}).ok());
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A restarted loomd with `policy` whose three workers came back (as sessions `prefix`0..2).
  void ReopenWithWorkers(const std::string& policy, const std::string& prefix) {
    Open(policy);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(RegisterNode("n" + std::to_string(i), prefix + std::to_string(i), {}).ok());
    }
  }

  void Open(const std::string& policy = "priority-fifo") {
    cp_.reset();
    auto store = store::Store::Open(dir_ + "/loomd.db", {.sync_full = false});
    ASSERT_TRUE(store.ok());
    ControlPlaneOptions options;
    options.node_timeout_ms = 5000;
    options.policy = policy;
    auto cp = ControlPlane::Create(std::move(*store), &workers_, &clock_, options);
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    cp_ = std::move(*cp);
  }

  Status RegisterNode(const std::string& name, const std::string& session, std::vector<int64_t> running,
                      uint64_t registration = 1) {
    v1::RegisterRequest r;
    r.set_registration(registration);
    r.mutable_node()->set_name(name);
    r.mutable_node()->set_address(name + ":1");
    for (int g = 0; g < 4; ++g) {
      v1::Gpu* gpu = r.mutable_node()->add_gpus();
      gpu->set_index(g);
      gpu->set_peak_tflops(1);  // round figures for the efficiency tests
    }
    r.set_session(session);
    for (int64_t id : running) r.add_running()->set_job_id(id);
    return cp_->Register(r).status();
  }

  StatusOr<int64_t> Submit(int gpus, int per_node = 0, int priority = 0) {
    v1::JobSpec spec;
    spec.set_gpus(gpus);
    spec.set_gpus_per_node(per_node);
    spec.set_priority(priority);
    spec.add_command("/bin/true");
    return cp_->Submit(spec);
  }

  v1::JobState State(int64_t id) { return cp_->GetJob(id)->state(); }

  // Heartbeats from every node but `silent` (sessions `prefix`N), listing nothing.
  void HeartbeatAllBut(const std::string& silent, const std::string& prefix = "s") {
    for (int i = 0; i < 3; ++i) {
      std::string name = "n" + std::to_string(i);
      if (name == silent) continue;
      v1::HeartbeatRequest hb;
      hb.set_node(name);
      hb.set_session(prefix + std::to_string(i));
      hb.set_launch_mark(workers_.Mark(name + ":1"));
      v1::HeartbeatReply reply = cp_->Heartbeat(hb);
      EXPECT_FALSE(reply.reregister());
      (void)workers_.Mark(name + ":1", &reply);
    }
  }

  // Under multifactor-backfill, a QoS-0 job holding all 12 GPUs and a QoS-1 job of 4 submitted
  // after it, with the pass that decides the preemption run (kills sent since are recorded).
  // Returns {victim, urgent}.
  std::pair<int64_t, int64_t> StartPreemption() {
    ReopenWithWorkers("multifactor-backfill", "p");
    v1::JobSpec low;
    low.set_gpus(12);
    low.set_time_limit_s(3600);
    low.add_command("/bin/true");
    const int64_t victim = *cp_->Submit(low);
    cp_->SchedulePass();
    EXPECT_EQ(State(victim), v1::RUNNING);
    v1::JobSpec high = low;
    high.set_gpus(4);
    high.set_qos(1);
    const int64_t urgent = *cp_->Submit(high);
    workers_.kills.clear();
    cp_->SchedulePass();
    return {victim, urgent};
  }

  void Exit(int64_t id, const std::string& node, int code, const std::string& reason = "") {
    v1::ReportJobExitRequest r;
    r.set_job_id(id);
    r.set_node(node);
    r.set_exit_code(code);
    r.set_reason(reason);
    ASSERT_TRUE(cp_->ReportJobExit(r).ok());
  }

  std::string dir_;
  FakeClock clock_;
  FakeWorkers workers_;
  std::unique_ptr<ControlPlane> cp_;
};

}  // namespace loom::test_support
