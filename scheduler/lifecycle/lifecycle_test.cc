// The lifecycle's transitions and the jobs' causes (exit reports, infrastructure failures,
// preemption, starts, cancel), table-driven, on plain maps (no store, no clock). The nodes' side
// is in lifecycle_nodes_test.cc.
#include "scheduler/lifecycle/lifecycle.h"

#include <gtest/gtest.h>

#include <set>

#include "scheduler/lifecycle/lifecycle_test_fixture.h"
#include "scheduler/policies/registry.h"

namespace loom::lifecycle {
namespace {
using test_support::kNow;
using test_support::LifecycleTest;
using test_support::MapView;

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
