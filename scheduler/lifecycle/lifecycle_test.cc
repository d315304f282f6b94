// The lifecycle's transitions and causes, table-driven, on plain maps (no store, no clock).
#include "scheduler/lifecycle/lifecycle.h"

#include <gtest/gtest.h>

#include <set>

#include "scheduler/policies/registry.h"

namespace loom::lifecycle {
namespace {

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

// --- the one transition function

TEST(TransitionTest, EveryPairOfStatesIsCheckedAgainstTheTable) {
  const std::vector<v1::JobState> all = {v1::PENDING,   v1::RUNNING,   v1::COMPLETED, v1::FAILED,
                                         v1::CANCELLED, v1::NODE_FAIL, v1::TIMEOUT};
  const std::set<std::pair<v1::JobState, v1::JobState>> legal = {
      {v1::PENDING, v1::RUNNING},   {v1::PENDING, v1::CANCELLED}, {v1::RUNNING, v1::PENDING},
      {v1::RUNNING, v1::COMPLETED}, {v1::RUNNING, v1::FAILED},    {v1::RUNNING, v1::CANCELLED},
      {v1::RUNNING, v1::NODE_FAIL}, {v1::RUNNING, v1::TIMEOUT}};
  for (v1::JobState from : all) {
    for (v1::JobState to : all) {
      const bool want = legal.count({from, to}) != 0;
      EXPECT_EQ(IsValidTransition(from, to), want) << v1::JobState_Name(from) << "->" << v1::JobState_Name(to);
      v1::Job job;
      job.set_id(7);
      job.set_state(from);
      Status s = Transition(job, to);
      EXPECT_EQ(s.ok(), want);
      EXPECT_EQ(job.state(), want ? to : from);  // a refused move changes nothing
    }
  }
  v1::Job done;
  done.set_id(3);
  done.set_state(v1::TIMEOUT);
  EXPECT_EQ(Transition(done, v1::RUNNING).message(), "job 3 already ended (TIMEOUT)");
}

TEST(TransitionTest, RequeueBudget) {
  v1::JobSpec spec;
  EXPECT_EQ(MaxRequeues(spec, 5), 5);
  spec.set_max_requeues(2);
  EXPECT_EQ(MaxRequeues(spec, 5), 2);
  spec.set_no_requeue(true);
  EXPECT_EQ(MaxRequeues(spec, 5), 0);
}

// --- exit reports: every cause a rank's exit can carry

TEST_F(LifecycleTest, ExitReportsEndOrRequeueByTheirCause) {
  struct Case {
    const char* name;
    int code;
    const char* reason;
    int signal;
    v1::JobState state;
    v1::EndCause cause;
    int requeues;
  };
  const Case cases[] = {
      {"clean exit", 0, "", 0, v1::COMPLETED, v1::CAUSE_COMPLETED, 0},
      {"non-zero exit", 3, "", 0, v1::FAILED, v1::CAUSE_RANK_FAILED, 0},
      {"killed by a signal", 137, "", 9, v1::FAILED, v1::CAUSE_RANK_FAILED, 0},
      {"time limit", 143, "TimeLimit", 15, v1::TIMEOUT, v1::CAUSE_TIME_LIMIT, 0},
      {"launch failed", -1, "LaunchFailed: no such program", 0, v1::PENDING, v1::CAUSE_LAUNCH_FAILED, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    view.jobs.clear();
    Running(1, {"n0"});
    v1::ReportJobExitRequest r = Exit(1, "n0", c.code, c.reason);
    r.set_signal(c.signal);
    Edit e = lc.OnRanksExited(view, r, kNow);
    ASSERT_EQ(e.jobs.count(1), 1u);
    const v1::Job& j = e.jobs.at(1);
    EXPECT_EQ(j.state(), c.state);
    EXPECT_EQ(j.requeues(), c.requeues);
    ASSERT_EQ(j.runs_size(), 1);
    EXPECT_EQ(j.runs(0).cause(), c.cause);
    EXPECT_EQ(j.runs(0).end_ms(), kNow);
    EXPECT_EQ(j.runs(0).lost(), c.state != v1::COMPLETED);
    if (c.state == v1::PENDING) {
      EXPECT_EQ(j.submit_time_ms(), 10);  // keeps its place in the queue
      EXPECT_TRUE(j.allocation().empty());
      EXPECT_TRUE(HasCore(e, CoreChange::kRequeue, 1));
    } else {
      EXPECT_TRUE(j.released());
      EXPECT_EQ(j.exit_code(), c.code);
      EXPECT_TRUE(HasCore(e, CoreChange::kFinish, 1));
    }
  }
}

TEST_F(LifecycleTest, MultiNodeJobCompletesWhenEveryNodeExitedAndFailsOnOne) {
  Running(1, {"n0", "n1"});
  Edit first = lc.OnRanksExited(view, Exit(1, "n0", 0), kNow);
  EXPECT_EQ(first.jobs.at(1).state(), v1::RUNNING);
  view.Apply(first);
  Edit second = lc.OnRanksExited(view, Exit(1, "n1", 0), kNow);
  EXPECT_EQ(second.jobs.at(1).state(), v1::COMPLETED);

  view.jobs.clear();
  Running(2, {"n0", "n1"});
  Edit failed = lc.OnRanksExited(view, Exit(2, "n0", 1), kNow);
  EXPECT_EQ(failed.jobs.at(2).state(), v1::FAILED);
  EXPECT_FALSE(failed.jobs.at(2).released());  // n1 may still run ranks: GPUs held
  ASSERT_EQ(Kills(failed, "n1"), 1);
  EXPECT_EQ(failed.calls[0].kill.attempt(), 1);
  EXPECT_EQ(PhaseOf(failed.jobs.at(2)), Phase::kEnding);
  view.Apply(failed);
  Edit last = lc.OnRanksExited(view, Exit(2, "n1", 143, "Cancelled"), kNow);
  EXPECT_TRUE(last.jobs.at(2).released());
  EXPECT_EQ(last.jobs.at(2).state(), v1::FAILED);  // the later report does not change the end
  EXPECT_EQ(PhaseOf(last.jobs.at(2)), Phase::kDone);
}

TEST_F(LifecycleTest, ReportsOfAnotherAttemptOrUnknownJobsChangeNothing) {
  Running(1, {"n0"}, /*attempt=*/2);
  Edit stale = lc.OnRanksExited(view, Exit(1, "n0", 1, "", /*attempt=*/1), kNow);
  EXPECT_FALSE(stale.writes());
  ASSERT_EQ(stale.log.size(), 1u);
  EXPECT_NE(stale.log[0].find("attempt 1 of job 1"), std::string::npos);
  Edit gone = lc.OnRanksGone(view, 1, 1, "n0", v1::CAUSE_WORKER_LOST, "", kNow);
  EXPECT_FALSE(gone.writes());
  Edit unknown = lc.OnRanksExited(view, Exit(99, "n0", 0), kNow);
  EXPECT_FALSE(unknown.writes());
  EXPECT_EQ(unknown.log.size(), 1u);
  Edit other_node = lc.OnRanksExited(view, Exit(1, "n2", 0, "", 2), kNow);
  EXPECT_FALSE(other_node.writes());
}

// --- infrastructure causes: requeue within the budget, NODE_FAIL past it

TEST_F(LifecycleTest, InfrastructureCausesRequeueUntilTheBudgetIsSpent) {
  struct Case {
    const char* name;
    v1::EndCause cause;
    int requeues_before;
    std::optional<int> max_requeues;
    bool no_requeue;
    v1::JobState state;
  };
  const Case cases[] = {
      {"worker lost", v1::CAUSE_WORKER_LOST, 0, std::nullopt, false, v1::PENDING},
      {"launch failed", v1::CAUSE_LAUNCH_FAILED, 0, std::nullopt, false, v1::PENDING},
      {"node down past lease", v1::CAUSE_NODE_FAIL, 4, std::nullopt, false, v1::PENDING},
      {"default budget spent", v1::CAUSE_NODE_FAIL, 5, std::nullopt, false, v1::NODE_FAIL},
      {"own budget spent", v1::CAUSE_WORKER_LOST, 2, 2, false, v1::NODE_FAIL},
      {"no requeue", v1::CAUSE_LAUNCH_FAILED, 0, std::nullopt, true, v1::NODE_FAIL},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    view.jobs.clear();
    v1::Job& j = Running(1, {"n0"});
    j.set_requeues(c.requeues_before);
    if (c.max_requeues) j.mutable_spec()->set_max_requeues(*c.max_requeues);
    j.mutable_spec()->set_no_requeue(c.no_requeue);
    Edit e = lc.OnRanksGone(view, 1, 1, "n0", c.cause, "because", kNow);
    const v1::Job& out = e.jobs.at(1);
    EXPECT_EQ(out.state(), c.state);
    EXPECT_EQ(out.runs(0).cause(), c.cause);
    EXPECT_TRUE(out.runs(0).lost());
    EXPECT_EQ(out.runs(0).end_ms(), kNow);
    if (c.state == v1::PENDING) {
      EXPECT_EQ(out.requeues(), c.requeues_before + 1);
      EXPECT_EQ(out.submit_time_ms(), 10);
      EXPECT_EQ(out.eligible_time_ms(), kNow);
      EXPECT_TRUE(HasCore(e, CoreChange::kRequeue, 1));
    } else {
      EXPECT_EQ(out.requeues(), c.requeues_before);
      EXPECT_TRUE(out.released());
      EXPECT_NE(out.reason().find("NodeFail"), std::string::npos);
    }
  }
}

TEST_F(LifecycleTest, ANodeWhoseLaunchFailedIsFencedUntilItsNextHeartbeat) {
  Running(1, {"n0"});
  Edit e = lc.OnRanksGone(view, 1, 1, "n0", v1::CAUSE_LAUNCH_FAILED, "n0: connection refused", kNow);
  view.Apply(e);
  EXPECT_FALSE(view.Placeable("n0"));  // the requeued job cannot land on the dead worker again
  EXPECT_TRUE(view.Placeable("n1"));
  MissCounts misses;
  auto hb = lc.OnHeartbeat(view, "n0", {}, v1::NodeHealth(), {}, misses, kNow + 1000);
  view.Apply(hb.edit);
  EXPECT_TRUE(view.Placeable("n0"));  // its worker answers again
  // Other causes leave placement to the node's state.
  Running(2, {"n1"});
  view.Apply(lc.OnRanksGone(view, 2, 1, "n1", v1::CAUSE_WORKER_LOST, "gone", kNow));
  EXPECT_TRUE(view.Placeable("n1"));
}

TEST_F(LifecycleTest, PreemptionRequeuesWithoutSpendingTheBudget) {
  v1::Job& victim = Running(1, {"n0", "n1"});
  victim.mutable_spec()->set_no_requeue(true);  // preemption is not a failure: requeued anyway
  victim.mutable_spec()->set_grace_s(120);
  sched::PassResult pass;
  pass.preemptions.push_back({1, 2});
  sched::Cluster cluster;
  Edit e = lc.OnPass(view, cluster, pass, kNow);
  EXPECT_EQ(PhaseOf(e.jobs.at(1)), Phase::kPreempting);
  ASSERT_EQ(e.calls.size(), 2u);
  EXPECT_EQ(e.calls[0].kill.grace_ms(), 30000);  // 120 s asked, capped by max_grace
  view.Apply(e);
  view.Apply(lc.OnRanksExited(view, Exit(1, "n0", 143), kNow));
  EXPECT_EQ(view.jobs.at(1).state(), v1::RUNNING);  // n1 still runs ranks
  Edit last = lc.OnRanksExited(view, Exit(1, "n1", 143), kNow + 5);
  const v1::Job& out = last.jobs.at(1);
  EXPECT_EQ(out.state(), v1::PENDING);
  EXPECT_EQ(out.preemptions(), 1);
  EXPECT_EQ(out.requeues(), 0);
  EXPECT_EQ(out.runs(0).cause(), v1::CAUSE_PREEMPTED);
  EXPECT_TRUE(HasCore(last, CoreChange::kRequeue, 1));
}

// --- node failure and partition safety

TEST_F(LifecycleTest, DownNodeHoldsItsGpusUntilItsLeaseEnds) {
  Running(1, {"n0", "n1"});
  Edit down = lc.OnNodeExpired(view, "n0", kNow);
  EXPECT_EQ(down.nodes.at("n0").state(), v1::DOWN);
  const v1::Job& stopping = down.jobs.at(1);
  EXPECT_EQ(PhaseOf(stopping), Phase::kPreempting);
  EXPECT_EQ(stopping.runs(0).cause(), v1::CAUSE_NODE_FAIL);
  EXPECT_EQ(Kills(down, "n1"), 1);  // the healthy node stops its ranks
  EXPECT_EQ(Kills(down, "n0"), 0);  // unreachable
  view.Apply(down);
  Edit other = lc.OnRanksExited(view, Exit(1, "n1", 143), kNow + 1);
  EXPECT_EQ(other.jobs.at(1).state(), v1::RUNNING);  // n0 may still run attempt 1: not requeued
  EXPECT_FALSE(HasCore(other, CoreChange::kRequeue, 1));
  view.Apply(other);
  Edit lease = lc.OnLeaseExpired(view, "n0", kNow + 2);
  EXPECT_EQ(lease.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(lease.jobs.at(1).requeues(), 1);
  EXPECT_TRUE(HasCore(lease, CoreChange::kRequeue, 1));
  view.Apply(lease);
  EXPECT_FALSE(lc.OnLeaseExpired(view, "n0", kNow + 3).writes());  // nothing left to presume gone
}

TEST_F(LifecycleTest, HealedPartitionKillsTheOldAttemptBeforeTheGpusReturn) {
  Running(1, {"n0"});
  view.Apply(lc.OnNodeExpired(view, "n0", kNow));
  std::vector<v1::JobAttempt> running(1);
  running[0].set_job_id(1);
  running[0].set_attempt(1);
  Edit back = lc.OnRegister(view, view.nodes.at("n0"), running, kNow + 1);
  EXPECT_EQ(back.nodes.at("n0").state(), v1::UP);
  EXPECT_EQ(Kills(back, "n0"), 1);                  // it still runs attempt 1: stop it
  EXPECT_EQ(back.jobs.count(1), 0u);                // and keep holding the GPUs
  view.Apply(back);
  Edit exited = lc.OnRanksExited(view, Exit(1, "n0", 137), kNow + 2);
  EXPECT_EQ(exited.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(exited.jobs.at(1).runs(0).cause(), v1::CAUSE_NODE_FAIL);
}

TEST_F(LifecycleTest, ANodeBackWithRanksLoomdGaveUpOnIsFencedUntilTheyAreGone) {
  Running(1, {"n1"}, /*attempt=*/2);  // attempt 1 ran on n0, which went DOWN past its lease
  view.Apply(lc.OnNodeExpired(view, "n0", kNow));
  std::vector<v1::JobAttempt> old(1);
  old[0].set_job_id(1);
  old[0].set_attempt(1);
  Edit back = lc.OnRegister(view, view.nodes.at("n0"), old, kNow + 1);
  ASSERT_EQ(back.core.size(), 1u);
  EXPECT_FALSE(back.core[0].placeable);
  view.Apply(back);
  MissCounts misses;
  auto still = lc.OnHeartbeat(view, "n0", old, {}, {}, misses, kNow + 2);
  ASSERT_EQ(still.kill.size(), 1u);  // told again to kill attempt 1
  EXPECT_TRUE(still.edit.core.empty());
  auto gone = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 3);
  ASSERT_EQ(gone.edit.core.size(), 1u);
  EXPECT_TRUE(gone.edit.core[0].placeable);
  view.Apply(gone.edit);
  EXPECT_TRUE(lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 4).edit.core.empty());
}

TEST_F(LifecycleTest, RegisterWithoutTheAttemptIsWorkerLostAndRequeues) {
  Running(1, {"n0"});  // e.g. loomd committed the start and restarted before its Launch
  Edit e = lc.OnRegister(view, view.nodes.at("n0"), {}, kNow);
  EXPECT_EQ(e.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(e.jobs.at(1).runs(0).cause(), v1::CAUSE_WORKER_LOST);
  std::vector<v1::JobAttempt> running(1);
  running[0].set_job_id(1);
  running[0].set_attempt(1);
  view.jobs.clear();
  Running(1, {"n0"});
  Edit kept = lc.OnRegister(view, view.nodes.at("n0"), running, kNow);
  EXPECT_EQ(kept.jobs.count(1), 0u);
  EXPECT_EQ(Kills(kept, "n0"), 0);
}

// --- heartbeats reconcile both ways

TEST_F(LifecycleTest, HeartbeatsKillWhatLoomdDoesNotHoldAndLoseWhatTheyStopListing) {
  Running(1, {"n0"}, /*attempt=*/2);
  Running(2, {"n0"});
  std::vector<v1::JobAttempt> running(3);
  running[0].set_job_id(1);
  running[0].set_attempt(1);  // an old attempt of job 1
  running[1].set_job_id(2);
  running[1].set_attempt(1);
  running[2].set_job_id(77);  // unknown
  MissCounts misses;
  auto first = lc.OnHeartbeat(view, "n0", running, {}, {}, misses, kNow);
  ASSERT_EQ(first.kill.size(), 2u);
  EXPECT_EQ(first.kill[0].job_id(), 1);
  EXPECT_EQ(first.kill[0].attempt(), 1);
  EXPECT_EQ(first.kill[1].job_id(), 77);
  EXPECT_FALSE(first.edit.writes());  // job 1 attempt 2 missed once: not yet gone
  EXPECT_EQ(misses.at(1), 1);
  auto second = lc.OnHeartbeat(view, "n0", running, {}, {}, misses, kNow + 1000);
  ASSERT_EQ(second.edit.jobs.count(1), 1u);
  EXPECT_EQ(second.edit.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(second.edit.jobs.at(1).runs(1).cause(), v1::CAUSE_WORKER_LOST);
  EXPECT_EQ(second.edit.jobs.count(2), 0u);  // listed every time
}

// A Launch still on its way (the worker's launch mark is below it) is not missed: the chaos
// test saw a Launch delivered seconds late, after two heartbeats had "lost" its ranks.
TEST_F(LifecycleTest, AJobWhoseLaunchTheWorkerHasNotReachedIsNotMissed) {
  Running(1, {"n0"});
  MissCounts misses;
  for (int i = 0; i < 3; ++i) {
    auto hb = lc.OnHeartbeat(view, "n0", {}, {}, /*unmarked=*/{1}, misses, kNow + i);
    EXPECT_FALSE(hb.edit.writes()) << "heartbeat " << i;
  }
  EXPECT_EQ(misses.count(1), 0u);
  (void)lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 3);  // the mark has passed it
  auto gone = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 4);
  ASSERT_EQ(gone.edit.jobs.count(1), 1u);
  EXPECT_EQ(gone.edit.jobs.at(1).runs(0).cause(), v1::CAUSE_WORKER_LOST);
}

// A Launch that timed out may have started the ranks: the attempt stops everywhere, but the
// node is not taken for quiet until it says so (here: its exit report after the kill).
TEST_F(LifecycleTest, AnUncertainLaunchStopsTheAttemptButWaitsForTheNode) {
  Running(1, {"n0", "n1"});
  Edit uncertain = lc.OnLaunchUncertain(view, 1, 1, "n1", "n1: deadline exceeded", kNow);
  const v1::Job& stopping = uncertain.jobs.at(1);
  EXPECT_EQ(PhaseOf(stopping), Phase::kPreempting);
  EXPECT_EQ(stopping.runs(0).cause(), v1::CAUSE_LAUNCH_FAILED);
  EXPECT_EQ(stopping.exited_nodes_size(), 0);
  EXPECT_EQ(Kills(uncertain, "n0"), 1);
  EXPECT_EQ(Kills(uncertain, "n1"), 1);  // in case its ranks did start
  view.Apply(uncertain);
  EXPECT_FALSE(view.Placeable("n1"));
  EXPECT_FALSE(lc.OnLaunchUncertain(view, 1, 1, "n1", "again", kNow + 1).writes());  // already stopping
  view.Apply(lc.OnRanksExited(view, Exit(1, "n0", 143), kNow + 2));
  EXPECT_EQ(view.job(1)->state(), v1::RUNNING);  // n1 may still run it
  Edit last = lc.OnRanksExited(view, Exit(1, "n1", 143), kNow + 3);
  EXPECT_EQ(last.jobs.at(1).state(), v1::PENDING);
  EXPECT_TRUE(HasCore(last, CoreChange::kRequeue, 1));
}

TEST(LaunchWantedTest, OnlyTheCurrentRunningAttemptOnANodeNotKnownQuiet) {
  v1::Job j;
  j.set_state(v1::RUNNING);
  j.set_attempt(2);
  j.add_runs();
  j.add_allocation()->set_node("n0");
  j.add_allocation()->set_node("n1");
  EXPECT_TRUE(LaunchWanted(j, 2, "n0"));
  EXPECT_FALSE(LaunchWanted(j, 1, "n0"));  // an older attempt
  EXPECT_FALSE(LaunchWanted(j, 2, "n2"));  // not its node
  j.add_exited_nodes("n1");
  EXPECT_FALSE(LaunchWanted(j, 2, "n1"));
  j.mutable_runs(0)->set_cause(v1::CAUSE_NODE_FAIL);  // being stopped
  EXPECT_FALSE(LaunchWanted(j, 2, "n0"));
}

TEST_F(LifecycleTest, AListedJobResetsItsMissCount) {
  Running(1, {"n0"});
  std::vector<v1::JobAttempt> listed(1);
  listed[0].set_job_id(1);
  listed[0].set_attempt(1);
  MissCounts misses;
  (void)lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow);
  (void)lc.OnHeartbeat(view, "n0", listed, {}, {}, misses, kNow);
  auto third = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow);
  EXPECT_FALSE(third.edit.writes());  // two misses, but not in a row
}

TEST_F(LifecycleTest, FailingHealthDrainsAndRequeuesAndAHealthyReportDoesNotResume) {
  Running(1, {"n0"});
  std::vector<v1::JobAttempt> listed(1);
  listed[0].set_job_id(1);
  listed[0].set_attempt(1);
  v1::NodeHealth sick;
  sick.set_failing(true);
  sick.set_reason("gpu 2: ECC errors");
  MissCounts misses;
  auto hb = lc.OnHeartbeat(view, "n0", listed, sick, {}, misses, kNow);
  EXPECT_EQ(hb.edit.nodes.at("n0").state(), v1::DRAINING);
  EXPECT_TRUE(hb.edit.nodes.at("n0").drain());
  EXPECT_EQ(hb.edit.nodes.at("n0").reason(), "gpu 2: ECC errors");
  EXPECT_EQ(hb.edit.jobs.at(1).runs(0).cause(), v1::CAUSE_HEALTH_DRAIN);
  EXPECT_EQ(Kills(hb.edit, "n0"), 1);
  view.Apply(hb.edit);
  Edit exited = lc.OnRanksExited(view, Exit(1, "n0", 143), kNow + 1);
  EXPECT_EQ(exited.jobs.at(1).state(), v1::PENDING);
  EXPECT_EQ(exited.nodes.at("n0").state(), v1::DRAINED);
  view.Apply(exited);
  auto healthy = lc.OnHeartbeat(view, "n0", {}, {}, {}, misses, kNow + 2);
  EXPECT_FALSE(healthy.edit.writes());
  EXPECT_EQ(view.nodes.at("n0").state(), v1::DRAINED);
}

// --- drain, resume

TEST_F(LifecycleTest, DrainWaitsForRunningJobsAndResumeMakesTheNodePlaceable) {
  Running(1, {"n1"});
  auto unknown = lc.OnDrain(view, {"n0", "nX"}, "r", false, kNow);
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  auto drained = lc.OnDrain(view, {"n0", "n1"}, "maintenance", false, kNow);
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(drained->nodes.at("n0").state(), v1::DRAINED);   // idle
  EXPECT_EQ(drained->nodes.at("n1").state(), v1::DRAINING);  // job 1 runs on
  EXPECT_EQ(drained->nodes.at("n1").reason(), "maintenance");
  EXPECT_TRUE(drained->calls.empty());                       // without --requeue nothing is killed
  EXPECT_EQ(drained->jobs.count(1), 0u);
  view.Apply(*drained);
  Edit done = lc.OnRanksExited(view, Exit(1, "n1", 0), kNow + 1);
  EXPECT_EQ(done.jobs.at(1).state(), v1::COMPLETED);
  EXPECT_EQ(done.nodes.at("n1").state(), v1::DRAINED);
  view.Apply(done);
  auto resumed = lc.OnResume(view, {"n1"}, kNow + 2);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->nodes.at("n1").state(), v1::UP);
  EXPECT_FALSE(resumed->nodes.at("n1").drain());
  ASSERT_EQ(resumed->core.size(), 1u);
  EXPECT_TRUE(resumed->core[0].placeable);
  EXPECT_EQ(lc.OnResume(view, {"nope"}, kNow).status().code(), StatusCode::kNotFound);
}

TEST_F(LifecycleTest, DrainWithRequeueStopsTheJobsWithGrace) {
  v1::Job& j = Running(1, {"n0"});
  j.mutable_spec()->set_grace_s(10);
  auto e = lc.OnDrain(view, {"n0"}, "swap PSU", true, kNow);
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(Kills(*e, "n0"), 1);
  EXPECT_EQ(e->calls[0].kill.grace_ms(), 10000);
  EXPECT_EQ(e->jobs.at(1).runs(0).cause(), v1::CAUSE_HEALTH_DRAIN);
  EXPECT_EQ(PhaseOf(e->jobs.at(1)), Phase::kPreempting);
}

TEST_F(LifecycleTest, RegisteringKeepsADrain) {
  view.Apply(*lc.OnDrain(view, {"n2"}, "bad fan", false, kNow));
  Edit e = lc.OnRegister(view, view.nodes.at("n2"), {}, kNow + 1);
  EXPECT_TRUE(e.nodes.at("n2").drain());
  EXPECT_EQ(e.nodes.at("n2").state(), v1::DRAINED);
  EXPECT_EQ(e.nodes.at("n2").reason(), "bad fan");
}

// --- cancel

TEST_F(LifecycleTest, CancelPendingRunningAndFinished) {
  v1::Job& p = view.jobs[5];
  p.set_id(5);
  p.set_state(v1::PENDING);
  auto pending = lc.OnCancel(view, 5, kNow);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->jobs.at(5).state(), v1::CANCELLED);
  EXPECT_TRUE(HasCore(*pending, CoreChange::kRemovePending, 5));
  Running(1, {"n0"});
  auto running = lc.OnCancel(view, 1, kNow);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->jobs.at(1).state(), v1::CANCELLED);
  EXPECT_EQ(running->jobs.at(1).runs(0).cause(), v1::CAUSE_CANCELLED);
  EXPECT_FALSE(running->jobs.at(1).released());  // until n0's ranks are gone
  EXPECT_EQ(Kills(*running, "n0"), 1);
  view.Apply(*running);
  EXPECT_EQ(lc.OnCancel(view, 1, kNow).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(lc.OnCancel(view, 42, kNow).status().code(), StatusCode::kNotFound);
}

// --- starts

TEST_F(LifecycleTest, StartsNumberAttemptsAndGiveConcurrentJobsDistinctPorts) {
  sched::Cluster cluster;
  for (const char* n : {"n0", "n1", "n2"}) ASSERT_TRUE(cluster.UpsertNode(n, 4, {}).ok());
  for (int64_t id : {1, 10001}) {
    v1::Job& j = view.jobs[id];
    j.set_id(id);
    j.set_state(v1::PENDING);
    j.mutable_spec()->set_gpus(2);
    j.mutable_spec()->set_gpus_per_node(2);
  }
  view.jobs[1].add_runs()->set_attempt(1);  // one earlier attempt
  sched::PassResult pass;
  pass.starts.push_back({1, {{0, 0b0011, false}}});
  pass.starts.push_back({10001, {{0, 0b1100, false}}});
  Edit e = lc.OnPass(view, cluster, pass, kNow);
  EXPECT_EQ(e.jobs.at(1).attempt(), 2);
  EXPECT_EQ(e.jobs.at(1).runs(1).attempt(), 2);
  EXPECT_EQ(e.jobs.at(1).runs(1).nodes(0), "n0");
  EXPECT_EQ(e.jobs.at(10001).attempt(), 1);
  EXPECT_NE(e.jobs.at(1).master_port(), e.jobs.at(10001).master_port());
  ASSERT_EQ(e.calls.size(), 2u);
  EXPECT_EQ(e.calls[0].kind, WorkerCall::kLaunch);
  EXPECT_EQ(e.calls[0].launch.job().attempt(), 2);
}

TEST_F(LifecycleTest, LaunchCallsWithoutRowsNameTheJobAndAttemptOnly) {
  sched::Cluster cluster;
  for (const char* n : {"n0", "n1"}) ASSERT_TRUE(cluster.UpsertNode(n, 4, {}).ok());
  v1::Job& j = view.jobs[3];
  j.set_id(3);
  j.set_state(v1::PENDING);
  j.mutable_spec()->set_gpus(8);
  j.mutable_spec()->set_gpus_per_node(4);
  sched::PassResult pass;
  pass.starts.push_back({3, {{0, 0b1111, true}, {1, 0b1111, true}}});
  Options o;
  o.launch_rows = false;
  Edit lean = Lifecycle(o).OnPass(view, cluster, pass, kNow);
  Edit full = lc.OnPass(view, cluster, pass, kNow);
  ASSERT_EQ(lean.calls.size(), 2u);
  EXPECT_EQ(lean.calls[1].node, "n1");
  EXPECT_EQ(lean.calls[1].launch.node_index(), 1);
  EXPECT_EQ(lean.calls[1].launch.job().attempt(), 1);
  EXPECT_EQ(lean.calls[1].launch.nodes_size(), 0);
  // A store that keeps only the latest run (loom-sim's) still numbers attempts on.
  v1::Job& k = view.jobs[4];
  k.set_id(4);
  k.set_state(v1::PENDING);
  k.set_attempt(7);
  k.add_runs()->set_attempt(7);
  k.mutable_spec()->set_gpus(4);
  k.mutable_spec()->set_gpus_per_node(4);
  sched::PassResult again;
  again.starts.push_back({4, {{0, 0b1111, false}}});
  EXPECT_EQ(lc.OnPass(view, cluster, again, kNow).jobs.at(4).attempt(), 8);
  EXPECT_EQ(full.calls[1].launch.nodes_size(), 2);
  // The rows written are the same either way.
  EXPECT_EQ(lean.jobs.at(3).SerializeAsString(), full.jobs.at(3).SerializeAsString());
}

// A batch of reports decides as the same reports one by one: completion, a failure that ends
// the job and releases it once the rest report, a preemption's requeue.
TEST_F(LifecycleTest, ABatchOfExitReportsEndsAsTheReportsOneByOne) {
  auto one_by_one = [&](const std::vector<v1::ReportJobExitRequest>& reports) {
    MapView v = view;
    for (const auto& r : reports) v.Apply(lc.OnRanksExited(v, r, kNow));
    return v;
  };
  auto batch = [&](const std::vector<v1::ReportJobExitRequest>& reports) {
    MapView v = view;
    Edit e = lc.OnRanksExited(v, reports, kNow);
    v.Apply(e);
    return std::make_pair(v, e);
  };
  const std::vector<std::vector<v1::ReportJobExitRequest>> cases = {
      {Exit(1, "n0", 0), Exit(1, "n1", 0), Exit(1, "n2", 0)},
      {Exit(1, "n1", 3), Exit(1, "n0", 143), Exit(1, "n2", 143)},
      {Exit(1, "n0", 0, "TimeLimit"), Exit(1, "n1", 0, "TimeLimit")},  // n2 not yet: held
  };
  for (const auto& reports : cases) {
    view.jobs.clear();
    Running(1, {"n0", "n1", "n2"});
    const MapView a = one_by_one(reports);
    const auto [b, edit] = batch(reports);
    EXPECT_EQ(a.jobs.at(1).SerializeAsString(), b.jobs.at(1).SerializeAsString());
  }
  view.jobs.clear();
  Running(1, {"n0", "n1", "n2"});
  sched::Cluster cluster;
  sched::PassResult pass;
  pass.preemptions.push_back({1, 2});
  view.Apply(lc.OnPass(view, cluster, pass, kNow));
  const auto [v, edit] = batch({Exit(1, "n0", 143), Exit(1, "n1", 143), Exit(1, "n2", 143)});
  EXPECT_EQ(v.jobs.at(1).state(), v1::PENDING);
  int requeues = 0;
  for (const CoreChange& c : edit.core) requeues += c.kind == CoreChange::kRequeue && c.job == 1;
  EXPECT_EQ(requeues, 1);  // settled once
}

// One exit for the whole attempt decides as every reachable node's report one by one would:
// completion, a failure, a time limit (the rows are the same), and a preempted attempt is
// requeued once. A DOWN node reports nothing: its GPUs stay held until its lease.
TEST_F(LifecycleTest, AnAttemptsExitEndsAsEachReachableNodesReport) {
  auto one_by_one = [&](const std::vector<std::string>& nodes, int code, const std::string& reason) {
    MapView v = view;
    for (const std::string& n : nodes) v.Apply(lc.OnRanksExited(v, Exit(1, n, code, reason), kNow));
    return v;
  };
  struct Case {
    int code;
    std::string reason;
    v1::JobState state;
  };
  for (const Case& c : {Case{0, "", v1::COMPLETED}, Case{3, "", v1::FAILED}, Case{-1, "TimeLimit", v1::TIMEOUT}}) {
    view.jobs.clear();
    Running(1, {"n0", "n1", "n2"});
    const MapView a = one_by_one({"n0", "n1", "n2"}, c.code, c.reason);
    MapView b = view;
    Edit e = lc.OnAttemptExited(b, Exit(1, "", c.code, c.reason), kNow);
    b.Apply(e);
    EXPECT_EQ(b.jobs.at(1).state(), c.state);
    EXPECT_TRUE(b.jobs.at(1).released());
    EXPECT_EQ(a.jobs.at(1).SerializeAsString(), b.jobs.at(1).SerializeAsString()) << c.reason << c.code;
    EXPECT_TRUE(e.calls.empty());  // every node exited: no kill
  }
  // Another attempt's exit changes nothing.
  view.jobs.clear();
  Running(1, {"n0", "n1"}, /*attempt=*/2);
  Edit stale = lc.OnAttemptExited(view, Exit(1, "", 0, "", /*attempt=*/1), kNow);
  EXPECT_TRUE(stale.jobs.empty());
  // A preempted attempt on a DOWN node: the others' ranks exit, the job waits for the lease.
  view.jobs.clear();
  Running(1, {"n0", "n1", "n2"});
  view.nodes["n2"].set_state(v1::DOWN);
  sched::Cluster cluster;
  sched::PassResult pass;
  pass.preemptions.push_back({1, 2});
  view.Apply(lc.OnPass(view, cluster, pass, kNow));
  Edit killed = lc.OnAttemptExited(view, Exit(1, "", 143, "Killed"), kNow);
  view.Apply(killed);
  EXPECT_EQ(view.jobs.at(1).exited_nodes_size(), 2);
  EXPECT_EQ(view.jobs.at(1).state(), v1::RUNNING);
  EXPECT_FALSE(HasCore(killed, CoreChange::kRequeue, 1));
  Edit lease = lc.OnLeaseExpired(view, "n2", kNow);
  EXPECT_TRUE(HasCore(lease, CoreChange::kRequeue, 1));
  view.Apply(lease);
  EXPECT_EQ(view.jobs.at(1).state(), v1::PENDING);
}

// Past a few exited nodes the lifecycle asks a set, not the list (a requeue at 18,000 nodes was
// O(N²)): a job on 12 nodes, one DOWN, waits for that one's lease and no other.
TEST_F(LifecycleTest, ManyExitedNodesStillWaitForTheLastOne) {
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) {
    names.push_back("m" + std::to_string(i));
    v1::Node& n = view.nodes[names.back()];
    n.set_name(names.back());
    n.set_state(v1::UP);
  }
  Running(1, names);
  view.Apply(lc.OnNodeExpired(view, "m7", kNow));  // stops the attempt; kills the other 11
  EXPECT_EQ(view.jobs.at(1).state(), v1::RUNNING);
  Edit exited = lc.OnAttemptExited(view, Exit(1, "", 143, "Killed"), kNow);
  view.Apply(exited);
  EXPECT_EQ(view.jobs.at(1).exited_nodes_size(), 11);
  EXPECT_FALSE(HasCore(exited, CoreChange::kRequeue, 1));
  EXPECT_TRUE(lc.OnAttemptExited(view, Exit(1, "", 143, "Killed"), kNow).jobs.empty());  // nothing new
  Edit lease = lc.OnLeaseExpired(view, "m7", kNow);
  EXPECT_TRUE(HasCore(lease, CoreChange::kRequeue, 1));
}

// A View may hand a row to the handler instead of a copy (TakeJob): the edit is the same.
TEST_F(LifecycleTest, AViewThatHandsRowsOverGetsTheSameEdit) {
  class HandingView final : public View {
   public:
    explicit HandingView(MapView base) : base_(std::move(base)) {}
    const v1::Job* job(int64_t id) const override { return base_.job(id); }
    const v1::Node* node(const std::string& name) const override { return base_.node(name); }
    std::vector<int64_t> JobsOn(const std::string& name) const override { return base_.JobsOn(name); }
    bool Placeable(const std::string& name) const override { return base_.Placeable(name); }
    bool TakeJob(int64_t id, v1::Job* out) const override {
      auto it = base_.jobs.find(id);
      if (it == base_.jobs.end()) return false;
      *out = std::move(it->second);
      base_.jobs.erase(it);
      ++taken;
      return true;
    }
    mutable MapView base_;
    mutable int taken = 0;
  };
  Running(1, {"n0", "n1", "n2"});
  const Edit copied = lc.OnNodeExpired(view, "n1", kNow);
  HandingView handing(view);
  const Edit handed = lc.OnNodeExpired(handing, "n1", kNow);
  EXPECT_EQ(handing.taken, 1);
  ASSERT_EQ(handed.jobs.size(), 1u);
  EXPECT_EQ(handed.jobs.at(1).SerializeAsString(), copied.jobs.at(1).SerializeAsString());
  EXPECT_EQ(handed.calls.size(), copied.calls.size());
  EXPECT_EQ(view.jobs.at(1).state(), v1::RUNNING);  // the copying view's row is untouched
}

// --- core changes

TEST(ApplyToCoreTest, SubmitQueuesAndCancelRemoves) {
  auto policy = sched::MakePolicy("priority-fifo", {});
  ASSERT_TRUE(policy.ok());
  sched::SchedulerCore core(std::move(*policy));
  ASSERT_TRUE(core.cluster().UpsertNode("n0", 4, {}).ok());
  Lifecycle lc;
  v1::Job job;
  job.set_id(1);
  job.mutable_spec()->set_gpus(2);
  job.mutable_spec()->set_gpus_per_node(2);
  Edit submit = lc.OnSubmit(job, kNow);
  ASSERT_TRUE(ApplyToCore(submit, core).ok());
  EXPECT_TRUE(core.IsPending(1));
  MapView view;
  view.Apply(submit);
  auto cancel = lc.OnCancel(view, 1, kNow);
  ASSERT_TRUE(cancel.ok());
  ASSERT_TRUE(ApplyToCore(*cancel, core).ok());
  EXPECT_FALSE(core.IsPending(1));
}

}  // namespace
}  // namespace loom::lifecycle
