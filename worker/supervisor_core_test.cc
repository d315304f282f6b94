// SupervisorCore's decisions, with time as a number: no processes.
#include "worker/supervisor_core.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "worker/supervisor_files.h"

namespace loom::worker {
namespace {

using Signals = std::vector<int>;

SupervisorPlan Plan(int ranks, int64_t limit_ms = 0, int sig = 0, int64_t before_ms = 0) {
  return {ranks, limit_ms, sig, before_ms, /*grace_ms=*/1000};
}

TEST(SupervisorCoreTest, AllRanksExitingZeroCompletes) {
  SupervisorCore core(Plan(2), 0);
  EXPECT_EQ(core.OnRankExit(0, 0, 0, 10), Signals{});
  EXPECT_FALSE(core.done());
  EXPECT_EQ(core.OnRankExit(1, 0, 0, 20), Signals{});
  EXPECT_TRUE(core.done());
  EXPECT_EQ(core.result().exit_code, 0);
  EXPECT_EQ(core.result().reason, "");
}

TEST(SupervisorCoreTest, FirstFailureStopsTheSiblingsAndIsTheResult) {
  SupervisorCore core(Plan(3), 0);
  EXPECT_EQ(core.OnRankExit(1, 3, 0, 10), Signals{SIGTERM});
  EXPECT_EQ(core.OnRankExit(0, 143, SIGTERM, 20), Signals{});  // no second SIGTERM, not the result
  EXPECT_EQ(core.OnTick(500), Signals{});
  EXPECT_EQ(core.OnTick(1010), Signals{SIGKILL});  // rank 2 ignored SIGTERM for the grace period
  EXPECT_EQ(core.OnTick(1500), Signals{});
  EXPECT_EQ(core.OnTick(2010), Signals{SIGKILL});  // and again while it survives
  core.OnRankExit(2, 137, SIGKILL, 2020);
  ASSERT_TRUE(core.done());
  EXPECT_EQ(core.result().exit_code, 3);
  EXPECT_EQ(core.result().signal, 0);
}

TEST(SupervisorCoreTest, KillUsesItsGraceAndKeepsTheFirstReason) {
  SupervisorCore core(Plan(1), 0);
  EXPECT_EQ(core.OnKill("Preempted", 5000, 100), Signals{SIGTERM});
  EXPECT_EQ(core.OnKill("Cancelled", 0, 200), Signals{});  // already going
  EXPECT_EQ(core.next_deadline_ms(), 5100);
  EXPECT_EQ(core.OnTick(5000), Signals{});
  EXPECT_EQ(core.OnTick(5100), Signals{SIGKILL});
  core.OnRankExit(0, 137, SIGKILL, 5110);
  EXPECT_EQ(core.result().reason, "Preempted");
  EXPECT_EQ(core.result().signal, SIGKILL);
}

TEST(SupervisorCoreTest, BareKillOfCleanExitsIs143) {
  SupervisorCore core(Plan(1), 0);
  core.OnKill("", 0, 0);
  core.OnRankExit(0, 0, 0, 5);  // it trapped SIGTERM and exited 0
  EXPECT_EQ(core.result().reason, "Killed");
  EXPECT_EQ(core.result().exit_code, 143);
}

TEST(SupervisorCoreTest, CheckpointSignalThenTimeLimit) {
  SupervisorCore core(Plan(2, /*limit_ms=*/10000, SIGUSR1, /*before_ms=*/3000), 1000);
  EXPECT_EQ(core.next_deadline_ms(), 8000);
  EXPECT_EQ(core.OnTick(7999), Signals{});
  EXPECT_EQ(core.OnTick(8000), Signals{SIGUSR1});
  EXPECT_EQ(core.OnTick(9000), Signals{});  // once
  EXPECT_EQ(core.next_deadline_ms(), 11000);
  EXPECT_EQ(core.OnTick(11000), Signals{SIGTERM});
  EXPECT_EQ(core.OnTick(12000), Signals{SIGKILL});
  core.OnRankExit(0, 137, SIGKILL, 12001);
  core.OnRankExit(1, 137, SIGKILL, 12001);
  EXPECT_EQ(core.result().reason, "TimeLimit");
}

TEST(SupervisorCoreTest, WarningLongerThanTheLimitComesAtOnceAndNotAfterAKill) {
  SupervisorCore early(Plan(1, 1000, SIGUSR2, 5000), 100);
  EXPECT_EQ(early.OnTick(100), Signals{SIGUSR2});
  SupervisorCore killed(Plan(1, 10000, SIGUSR1, 1000), 0);
  killed.OnKill("Cancelled", 0, 10);
  EXPECT_EQ(killed.OnTick(9500), Signals{SIGKILL});  // the kill's escalation, no USR1
}

TEST(SupervisorFilesTest, RoundTrips) {
  SupervisorSpec spec;
  spec.ranks.push_back({{"/bin/echo", "a b"}, {{"RANK", "0"}}, "/w", "/o", "/e"});
  spec.plan = {1, 60000, SIGUSR1, 2000, 3000};
  auto back = DecodeSpec(EncodeSpec(spec));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ranks[0].argv[1], "a b");
  EXPECT_EQ(back->ranks[0].env.at("RANK"), "0");
  EXPECT_EQ(back->plan.signal_before_ms, 2000);
  EXPECT_EQ(back->plan.grace_ms, 3000);
  EXPECT_FALSE(DecodeSpec("{").ok());
  auto r = DecodeResult(EncodeResult({3, 0, "NonZeroExit on two words"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->reason, "NonZeroExit on two words");
  EXPECT_EQ(DecodeResult(EncodeResult({0, 0, ""}))->reason, "");
  EXPECT_FALSE(DecodeResult("garbage").ok());
  KillRequestFile k = DecodeKill(EncodeKill({2500, "NodeLeaseExpired"}));
  EXPECT_EQ(k.grace_ms, 2500);
  EXPECT_EQ(k.reason, "NodeLeaseExpired");
  EXPECT_EQ(DecodeKill("").reason, "Killed");
}

TEST(LeaseTest, ExpiresOnlyPastAPositiveLease) {
  EXPECT_FALSE(LeaseExpired("2000\n", 10000, 11999));
  EXPECT_FALSE(LeaseExpired("2000\n", 10000, 12000));
  EXPECT_TRUE(LeaseExpired("2000\n", 10000, 12001));
  EXPECT_FALSE(LeaseExpired("0\n", 0, 1000000));  // no lease
  EXPECT_FALSE(LeaseExpired("", 0, 1000000));
  EXPECT_FALSE(LeaseExpired("garbage", 0, 1000000));
}

}  // namespace
}  // namespace loom::worker
