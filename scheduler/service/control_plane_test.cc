// ControlPlane against a fake clock and fake workers: the mechanism's rules without processes —
// submissions, exits, cancel, nodes and their launches, restarts, drain, memory. Efficiency
// figures are in control_plane_accounting_test.cc, preemption in control_plane_preemption_test.cc.
#include "scheduler/service/control_plane.h"

#include <gtest/gtest.h>

#include <set>

#include "scheduler/service/control_plane_fixture.h"

namespace loom {
namespace {
using test_support::ControlPlaneTest;

TEST_F(ControlPlaneTest, BadSubmissionsAreRefusedAndChangeNothing) {
  EXPECT_EQ(Submit(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Submit(13).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Submit(6, 4).status().code(), StatusCode::kInvalidArgument);
  v1::JobSpec no_command;
  no_command.set_gpus(1);
  EXPECT_EQ(cp_->Submit(no_command).status().code(), StatusCode::kInvalidArgument);
  // Durations whose milliseconds would overflow, and negative ones, are refused by name.
  struct Bad {
    void (*set)(v1::JobSpec&);
    const char* fragment;
  };
  for (const Bad& b : {Bad{[](v1::JobSpec& s) { s.set_time_limit_s(INT64_MAX / 10); }, "time limit must be at most"},
                       Bad{[](v1::JobSpec& s) { s.set_leaf_wait_s(INT64_MAX / 100); }, "leaf wait must be at most"},
                       Bad{[](v1::JobSpec& s) { s.set_grace_s(-1); }, "grace must not be negative"},
                       Bad{[](v1::JobSpec& s) { s.set_max_requeues(-2); }, "max requeues must not be negative"},
                       Bad{[](v1::JobSpec& s) { s.set_signal(99); }, "signal must be 1..64"}}) {
    v1::JobSpec spec;
    spec.set_gpus(1);
    spec.add_command("/bin/true");
    b.set(spec);
    Status s = cp_->Submit(spec).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(b.fragment), std::string::npos) << s.message();
  }
  EXPECT_TRUE(cp_->ListJobs({}).empty());
  EXPECT_EQ(*Submit(1), 1);  // ids were not consumed by the failures
}

TEST_F(ControlPlaneTest, MultiNodeJobLaunchesEveryNodeAndCompletesWhenAllExit) {
  int64_t id = *Submit(8, 4);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  ASSERT_EQ(workers_.launches.size(), 2u);
  EXPECT_EQ(workers_.launches[0].second.node_index(), 0);
  EXPECT_EQ(workers_.launches[1].second.node_index(), 1);
  EXPECT_EQ(workers_.launches[1].second.nodes_size(), 2);
  v1::Job job = *cp_->GetJob(id);
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.spec().name(), "true");
  Exit(id, job.allocation(0).node(), 0);
  EXPECT_EQ(State(id), v1::RUNNING);  // one node still running
  Exit(id, job.allocation(1).node(), 0);
  EXPECT_EQ(State(id), v1::COMPLETED);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 0);
}

TEST_F(ControlPlaneTest, NonZeroExitFailsJobAndKillsOtherNodes) {
  int64_t id = *Submit(8, 4);
  cp_->SchedulePass();
  v1::Job job = *cp_->GetJob(id);
  Exit(id, job.allocation(1).node(), 3);
  job = *cp_->GetJob(id);
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_EQ(job.exit_code(), 3);
  ASSERT_EQ(workers_.kills.size(), 1u);
  EXPECT_EQ(workers_.kills[0].first, job.allocation(0).node() + ":1");
}

TEST_F(ControlPlaneTest, CancelPendingAndRunningButNotFinished) {
  int64_t big = *Submit(12, 4);
  int64_t queued = *Submit(4);
  cp_->SchedulePass();
  EXPECT_EQ(cp_->GetJob(queued)->reason(), "Resources");
  EXPECT_EQ(cp_->Cancel(queued)->state(), v1::CANCELLED);
  EXPECT_EQ(cp_->Cancel(big)->state(), v1::CANCELLED);
  EXPECT_EQ(workers_.kills.size(), 3u);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 12);  // held until the ranks are gone
  Status again = cp_->Cancel(big).status();
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("already ended"), std::string::npos);
  EXPECT_EQ(cp_->Cancel(999).status().code(), StatusCode::kNotFound);
  Exit(big, "n0", 143, "Cancelled");  // the late report of the killed ranks changes nothing
  EXPECT_EQ(State(big), v1::CANCELLED);
}

TEST_F(ControlPlaneTest, CancelledJobHoldsGpusUntilItsRanksAreGone) {
  int64_t big = *Submit(8, 4);
  cp_->SchedulePass();
  int64_t next = *Submit(8, 4);
  ASSERT_EQ(cp_->Cancel(big)->state(), v1::CANCELLED);
  v1::Job job = *cp_->GetJob(big);
  EXPECT_FALSE(job.released());
  EXPECT_EQ(cp_->SchedulePass(true), 0);  // the dying job's GPUs are not handed out yet
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 8);

  Open();  // the cancel and the hold survive a restart
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(RegisterNode("n" + std::to_string(i), "r" + std::to_string(i), {big}).ok());
  }
  EXPECT_EQ(State(big), v1::CANCELLED);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 8);
  Exit(big, job.allocation(0).node(), 143, "Cancelled");
  EXPECT_EQ(cp_->SchedulePass(true), 0);
  Exit(big, job.allocation(1).node(), 143, "Cancelled");
  EXPECT_TRUE(cp_->GetJob(big)->released());
  EXPECT_EQ(cp_->SchedulePass(true), 1);
  EXPECT_EQ(State(next), v1::RUNNING);
}

TEST_F(ControlPlaneTest, ARestartedLoomdGivesEveryNodeOneTimeoutToRegisterAgain) {
  clock_.now += 60'000;  // long after the workers last spoke to the old loomd
  Open();
  clock_.now += 4000;  // under the 5 s node timeout, counted from the restart
  cp_->CheckLiveness();
  for (const auto& n : cp_->ListNodes()) EXPECT_NE(n.state(), v1::DOWN) << n.name();
  clock_.now += 2000;
  cp_->CheckLiveness();
  for (const auto& n : cp_->ListNodes()) EXPECT_EQ(n.state(), v1::DOWN) << n.name();
}

TEST_F(ControlPlaneTest, SilentNodeGoesDownAndItsJobIsRequeuedOnceItsLeaseEnds) {
  int64_t id = *Submit(4);
  cp_->SchedulePass();
  std::string node = cp_->GetJob(id)->allocation(0).node();
  clock_.now += 6000;
  HeartbeatAllBut(node);
  cp_->CheckLiveness();
  int down = 0;
  for (const auto& n : cp_->ListNodes()) down += n.state() == v1::DOWN;
  EXPECT_EQ(down, 1);
  // Its ranks may still run behind a partition: the job keeps its GPUs, nothing restarts it yet.
  v1::Job stopping = *cp_->GetJob(id);
  EXPECT_EQ(stopping.state(), v1::RUNNING);
  EXPECT_EQ(stopping.runs(0).cause(), v1::CAUSE_NODE_FAIL);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 4);
  EXPECT_EQ(cp_->SchedulePass(true), 0);
  clock_.now += 10'000;  // past the lease (3 x the node timeout since its last heartbeat)
  HeartbeatAllBut(node);
  cp_->CheckLiveness();
  v1::Job requeued = *cp_->GetJob(id);
  EXPECT_EQ(requeued.state(), v1::PENDING);
  EXPECT_EQ(requeued.requeues(), 1);
  EXPECT_TRUE(requeued.runs(0).lost());
  workers_.launches.clear();
  EXPECT_EQ(cp_->SchedulePass(), 1);
  v1::Job again = *cp_->GetJob(id);
  EXPECT_EQ(again.attempt(), 2);
  EXPECT_NE(again.allocation(0).node(), node);
  ASSERT_EQ(workers_.launches.size(), 1u);
  EXPECT_EQ(workers_.launches[0].second.job().attempt(), 2);
}

TEST_F(ControlPlaneTest, LiveNodeNameCannotBeClaimedTwice) {
  Status s = RegisterNode("n1", "intruder", {});
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(s.message().find("already registered"), std::string::npos);
  EXPECT_TRUE(RegisterNode("n1", "s1", {}).ok());  // the same worker re-registering is fine
  clock_.now += 6000;                              // once silent past the timeout, it can be replaced
  EXPECT_TRUE(RegisterNode("n1", "replacement", {}).ok());
}

TEST_F(ControlPlaneTest, LaunchFailureRequeuesUntilTheBudgetIsSpent) {
  workers_.fail_launch = true;
  int64_t id = *Submit(2);
  cp_->SchedulePass();
  v1::Job job = *cp_->GetJob(id);
  EXPECT_EQ(job.state(), v1::PENDING);
  EXPECT_EQ(job.requeues(), 1);
  EXPECT_EQ(job.runs(0).cause(), v1::CAUSE_LAUNCH_FAILED);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 0);
  // A node whose Launch failed is fenced until its worker heartbeats again: the next attempt
  // goes elsewhere.
  const std::string failed_on = job.runs(0).nodes(0);
  cp_->SchedulePass(true);
  job = *cp_->GetJob(id);
  ASSERT_EQ(job.runs_size(), 2);
  EXPECT_NE(job.runs(1).nodes(0), failed_on);
  for (int pass = 0; pass < 10 && State(id) == v1::PENDING; ++pass) {
    HeartbeatAllBut("");
    cp_->SchedulePass();
  }
  job = *cp_->GetJob(id);
  EXPECT_EQ(job.state(), v1::NODE_FAIL);
  EXPECT_EQ(job.requeues(), 5);  // the default budget
  EXPECT_EQ(job.runs_size(), 6);
  EXPECT_NE(job.reason().find("NodeFail"), std::string::npos);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 0);
}

// A Launch that timed out may have started its ranks: the attempt stops at once, but its GPUs
// wait until the node's heartbeats, their launch mark past that Launch, leave the job out.
TEST_F(ControlPlaneTest, AnUncertainLaunchHoldsTheGpusUntilTheWorkerHasDecidedIt) {
  workers_.lose_launch = true;
  const int64_t id = *Submit(4);
  EXPECT_EQ(cp_->SchedulePass(), 1);
  v1::Job job = *cp_->GetJob(id);
  const std::string node = job.allocation(0).node();
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.runs(0).cause(), v1::CAUSE_LAUNCH_FAILED);
  ASSERT_EQ(workers_.kill_requests.size(), 1u);  // in case it did start
  EXPECT_EQ(workers_.kills[0].first, node + ":1");
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 4);
  HeartbeatAllBut("");  // the worker has not reached that Launch: no miss; the reply fences it
  HeartbeatAllBut("");  // the first miss
  EXPECT_EQ(State(id), v1::RUNNING);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 4);
  HeartbeatAllBut("");  // the second: its ranks are not there
  job = *cp_->GetJob(id);
  EXPECT_EQ(job.state(), v1::PENDING);
  EXPECT_EQ(job.requeues(), 1);
  EXPECT_EQ(cp_->GetStats()->gpus_allocated(), 0);
}

// Launches are numbered per node in the order they were decided; a new registration numbers
// afresh, and every heartbeat reply names the fence the worker applies.
TEST_F(ControlPlaneTest, LaunchesAreNumberedPerNodeAndRegistration) {
  for (int i = 0; i < 3; ++i) (void)*Submit(1);
  EXPECT_EQ(cp_->SchedulePass(), 3);
  std::map<std::string, std::vector<uint64_t>> seqs;
  for (const auto& [address, launch] : workers_.launches) {
    EXPECT_NE(launch.registration(), 0u);
    seqs[address].push_back(launch.launch_seq());
  }
  for (const auto& [address, numbers] : seqs) {
    for (size_t i = 0; i < numbers.size(); ++i) EXPECT_EQ(numbers[i], i + 1) << address;
  }
  const std::string address = workers_.launches[0].first;
  v1::HeartbeatRequest hb;
  hb.set_node(address.substr(0, address.find(':')));
  hb.set_session("s" + hb.node().substr(1));
  v1::HeartbeatReply reply = cp_->Heartbeat(hb);
  EXPECT_EQ(reply.launch_fence(), seqs[address].back());  // every call has finished
  EXPECT_EQ(reply.fence_registration(), workers_.launches[0].second.registration());
}

// A Launch sent late, after its attempt was stopped (here: the job cancelled while the call
// to its first node was under way), is not sent at all.
TEST_F(ControlPlaneTest, ALaunchWhoseAttemptStoppedMeanwhileIsNotSent) {
  const int64_t id = *Submit(8);  // two nodes
  workers_.on_launch = [&] {
    workers_.on_launch = nullptr;
    ASSERT_TRUE(cp_->Cancel(id).ok());
  };
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(workers_.launches.size(), 1u);
  EXPECT_EQ(State(id), v1::CANCELLED);
}

TEST_F(ControlPlaneTest, NoRequeueEndsNodeFailOnTheFirstInfrastructureFailure) {
  workers_.fail_launch = true;
  v1::JobSpec spec;
  spec.set_gpus(1);
  spec.set_no_requeue(true);
  spec.add_command("/bin/true");
  int64_t id = *cp_->Submit(spec);
  cp_->SchedulePass();
  EXPECT_EQ(State(id), v1::NODE_FAIL);
}

TEST_F(ControlPlaneTest, RestartKeepsQueueOrderAndReadoptsRunningJobs) {
  int64_t running = *Submit(12, 4);
  cp_->SchedulePass();
  std::vector<int64_t> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(*Submit(4, 0, i % 2));
  Open();  // a new loomd on the same database
  ASSERT_EQ(cp_->ListJobs({v1::PENDING}).size(), 5u);
  EXPECT_EQ(State(running), v1::RUNNING);
  EXPECT_EQ(*Submit(1), queued.back() + 1);  // ids keep counting
  // The workers come back still running the job: it stays RUNNING and holds its GPUs.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(RegisterNode("n" + std::to_string(i), "t" + std::to_string(i), {running}).ok());
  }
  EXPECT_EQ(cp_->SchedulePass(), 0);
  EXPECT_EQ(State(running), v1::RUNNING);
  for (int i = 0; i < 3; ++i) Exit(running, "n" + std::to_string(i), 0);
  EXPECT_EQ(State(running), v1::COMPLETED);
  // Queue order survived: priority 1 jobs (queued[1], queued[3]) first, then submit order.
  workers_.launches.clear();
  cp_->SchedulePass();
  std::vector<int64_t> started;
  for (const auto& l : workers_.launches) started.push_back(l.second.job().id());
  EXPECT_EQ(started, (std::vector<int64_t>{queued[1], queued[3], queued[0]}));
}

TEST_F(ControlPlaneTest, WorkerThatLostItsJobRequeuesItOnRegister) {
  int64_t id = *Submit(4);
  cp_->SchedulePass();
  clock_.now += 6000;
  cp_->CheckLiveness();  // every node DOWN
  EXPECT_EQ(State(id), v1::RUNNING);
  // The workers come back without it: its ranks are known gone, so it is requeued at once.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RegisterNode("n" + std::to_string(i), "u" + std::to_string(i), {}).ok());
  EXPECT_EQ(State(id), v1::PENDING);
  EXPECT_EQ(cp_->GetJob(id)->runs(0).cause(), v1::CAUSE_NODE_FAIL);
  cp_->SchedulePass();
  ASSERT_EQ(State(id), v1::RUNNING);
  // A running job whose worker restarts without it (e.g. loomd committed the start and restarted
  // before the Launch went out): WorkerLost, requeued, never FAILED.
  std::string node = cp_->GetJob(id)->allocation(0).node();
  ASSERT_TRUE(RegisterNode(node, "u" + node.substr(1), {id}).ok());  // still has it
  EXPECT_EQ(State(id), v1::RUNNING);
  clock_.now += 6000;
  ASSERT_TRUE(RegisterNode(node, "restarted", {}).ok());
  v1::Job job = *cp_->GetJob(id);
  EXPECT_EQ(job.state(), v1::PENDING);
  EXPECT_EQ(job.runs(1).cause(), v1::CAUSE_WORKER_LOST);
  EXPECT_EQ(job.requeues(), 2);
}

TEST_F(ControlPlaneTest, LaunchesCarryTheRegistrationTheirDecisionSaw) {
  // The worker refuses a Launch stamped with an older registration than its latest: a Launch
  // decided before loomd saw a re-registration that did not list it must never start ranks.
  ASSERT_TRUE(RegisterNode("n0", "s0", {}, 41).ok());
  ASSERT_TRUE(RegisterNode("n1", "s1", {}, 42).ok());
  ASSERT_TRUE(RegisterNode("n2", "s2", {}, 43).ok());
  ASSERT_TRUE(Submit(8, 4).ok());
  workers_.launches.clear();
  cp_->SchedulePass();
  ASSERT_EQ(workers_.launches.size(), 2u);
  std::set<uint64_t> stamps;
  for (const auto& [address, launch] : workers_.launches) {
    const std::string node = address.substr(0, address.find(':'));
    stamps.insert(launch.registration());
    EXPECT_EQ(launch.registration(), 41u + static_cast<uint64_t>(node[1] - '0')) << node;
  }
  EXPECT_EQ(stamps.size(), 2u);
}

TEST_F(ControlPlaneTest, PendingJobsCarryReasonExpectedStartAndPriorityFactors) {
  ReopenWithWorkers("multifactor-backfill", "m");  // nodes count once their workers return
  v1::JobSpec big;
  big.set_gpus(12);
  big.set_time_limit_s(600);
  big.add_command("/bin/true");
  int64_t running = *cp_->Submit(big);
  cp_->SchedulePass();
  ASSERT_EQ(State(running), v1::RUNNING);
  int64_t waiting = *Submit(4);
  cp_->SchedulePass();
  v1::Job job = *cp_->GetJob(waiting);
  EXPECT_EQ(job.reason(), "Resources");
  // Reserved for when the running job's time limit ends at the latest.
  EXPECT_EQ(job.expected_start_ms(), cp_->GetJob(running)->start_time_ms() + 600 * 1000);
  std::set<std::string> names;
  for (const auto& f : job.priority_factors()) names.insert(f.name());
  EXPECT_TRUE(names.count("age") && names.count("fair_share")) << job.DebugString();
  EXPECT_EQ(cp_->ListJobs({v1::PENDING})[0].priority_factors_size(), 0);  // only GetJob explains
}

TEST_F(ControlPlaneTest, DrainSurvivesARestartAndTheWorkersReturn) {
  v1::DrainRequest drain;
  drain.add_nodes("n1");
  drain.set_reason("swap fan");
  ASSERT_TRUE(cp_->Drain(drain).ok());
  Open();  // before the workers return, the nodes are known by name with their drain
  ASSERT_EQ(cp_->ListNodes().size(), 3u);
  EXPECT_EQ(cp_->ListNodes()[1].name(), "n1");
  EXPECT_EQ(cp_->ListNodes()[1].state(), v1::DRAINED);
  v1::DrainRequest unknown;
  unknown.add_nodes("n9");
  EXPECT_EQ(cp_->Drain(unknown).status().code(), StatusCode::kNotFound);
  ReopenWithWorkers("priority-fifo", "r");
  const v1::Node n1 = cp_->ListNodes()[1];
  EXPECT_EQ(n1.state(), v1::DRAINED);
  EXPECT_TRUE(n1.drain());
  EXPECT_EQ(n1.reason(), "swap fan");
  const int64_t id = *Submit(12);
  EXPECT_EQ(cp_->SchedulePass(), 0);  // n1's GPUs are not placeable
  v1::ResumeRequest resume;
  resume.add_nodes("n1");
  ASSERT_TRUE(cp_->Resume(resume).ok());
  EXPECT_EQ(cp_->SchedulePass(), 1);
  EXPECT_EQ(State(id), v1::RUNNING);
}

TEST_F(ControlPlaneTest, FinishedJobsLeaveMemoryAndPageFromTheStore) {
  std::vector<int64_t> done;
  for (int i = 0; i < 3; ++i) {
    done.push_back(*Submit(4));
    cp_->SchedulePass();
    Exit(done.back(), cp_->GetJob(done.back())->allocation(0).node(), 0);
  }
  const int64_t pending = *Submit(12);
  EXPECT_EQ(cp_->ForgetFinished(), 0);  // too recent
  clock_.now += cp_->options().min_job_age_ms + 1;
  EXPECT_EQ(cp_->ForgetFinished(), 3);
  ASSERT_EQ(cp_->ListJobs({}).size(), 1u);  // memory keeps the pending one only
  EXPECT_EQ(cp_->GetJob(done[1])->state(), v1::COMPLETED);  // read back from the store
  v1::ListJobsRequest req;
  req.set_include_finished(true);
  req.set_limit(2);
  auto first = cp_->ListJobsPage(req);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->jobs_size(), 2);
  EXPECT_EQ(first->jobs(0).id(), done[0]);
  ASSERT_FALSE(first->next_page_token().empty());
  req.set_page_token(first->next_page_token());
  auto second = cp_->ListJobsPage(req);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->jobs_size(), 2);
  EXPECT_EQ(second->jobs(1).id(), pending);
  EXPECT_FALSE(second->jobs(1).reason().empty());  // described from memory, as the scheduler sees it
  req.set_page_token(second->next_page_token());
  auto last = cp_->ListJobsPage(req);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->jobs_size(), 0);
  EXPECT_TRUE(last->next_page_token().empty());
  v1::ListJobsRequest completed;
  completed.set_include_finished(true);
  completed.add_states(v1::COMPLETED);
  EXPECT_EQ(cp_->ListJobsPage(completed)->jobs_size(), 3);
  v1::ListJobsRequest bad;
  bad.set_page_token("x1");
  EXPECT_EQ(cp_->ListJobsPage(bad).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loom
