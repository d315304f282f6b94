// Properties of multifactor-backfill over random clusters and job streams, through the core:
// no GPU held twice, gangs whole, quotas never exceeded, and every job placed once the cluster
// drains.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "scheduler/core/scheduler_core.h"
#include "scheduler/policies/backfill.h"
#include "scheduler/policies/gang_placer.h"

namespace loom::sched {
namespace {

constexpr int kQuota = 12;
const char* const kTenants[] = {"a", "b", "c"};

class RandomStream {
 public:
  explicit RandomStream(uint32_t seed) : rng_(seed) {}

  std::unique_ptr<SchedulingPolicy> Policy() {
    FairShareConfig shares;
    shares.tenants["a"] = {2.0, kQuota};
    shares.tenants["b"] = {1.0, kQuota};
    return std::make_unique<BackfillPolicy>(std::make_unique<GangPlacer>(),
                                            MultifactorPriority(PriorityWeights{}, shares),
                                            BackfillOptions{.max_reservations = 2});
  }

  void BuildCluster(Cluster* c) {
    const int leaves = Uniform(1, 3), per_leaf = Uniform(1, 4);
    for (int i = 0; i < leaves * per_leaf; ++i) {
      ASSERT_TRUE(c->UpsertNode("n" + std::to_string(i), Uniform(0, 1) ? 4 : 8,
                                {{kLeafLabel, "l" + std::to_string(i / per_leaf)}})
                      .ok());
    }
  }

  // A request the cluster can hold; quotas and one-leaf requirements kept satisfiable.
  JobRequest Job(const SchedulerCore& core) {
    for (;;) {
      JobRequest r;
      const int sizes[] = {1, 1, 2, 3, 4, 8, 12, 16};
      r.gpus = sizes[Uniform(0, 7)];
      r.tenant = kTenants[Uniform(0, 2)];
      r.qos = Uniform(0, 4) == 0 ? 1 : 0;
      r.time_limit_ms = Uniform(0, 5) == 0 ? 0 : Uniform(1, 20);
      r.leaf = static_cast<LeafConstraint>(Uniform(0, 2));
      r.one_leaf_wait_ms = Uniform(0, 10);
      if (r.tenant != "c" && r.gpus > kQuota) continue;
      auto normalized = core.Normalize(r);
      if (!normalized.ok()) continue;
      if (normalized->nodes() > 1 && r.leaf == LeafConstraint::kRequireOne) {
        r.leaf = LeafConstraint::kPreferOne;  // might never fit one leaf of mixed nodes
      }
      normalized->leaf = r.leaf;
      return *normalized;
    }
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

 private:
  std::mt19937 rng_;
};

void CheckInvariants(const SchedulerCore& core, const std::map<JobId, JobRequest>& running) {
  std::vector<GpuMask> seen(core.cluster().size(), 0);
  std::map<std::string, int> per_tenant;
  for (const auto& [id, request] : running) {
    const Allocation* a = core.cluster().AllocationOf(id);
    ASSERT_NE(a, nullptr) << "job " << id << " lost its GPUs";
    ASSERT_EQ(static_cast<int>(a->size()), request.nodes()) << "gang not whole";
    int gpus = 0;
    for (const NodeGrant& g : *a) {
      const GpuMask held = GrantMask(core.cluster().node(g.node), g);
      ASSERT_EQ(seen[g.node] & held, 0u) << "GPU double-booked";
      seen[g.node] |= held;
      ASSERT_EQ(PopCount(g.gpus), request.gpus_per_node);
      ASSERT_EQ(g.exclusive, request.nodes() > 1);
      gpus += PopCount(g.gpus);
    }
    ASSERT_EQ(gpus, request.gpus);
    per_tenant[request.tenant] += request.gpus;
  }
  EXPECT_LE(per_tenant["a"], kQuota);
  EXPECT_LE(per_tenant["b"], kQuota);
}

TEST(PropertyTest, RandomClustersAndStreamsKeepTheInvariantsAndDrain) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomStream random(seed);
    SchedulerCore core(random.Policy());
    random.BuildCluster(&core.cluster());
    std::map<JobId, JobRequest> submitted, running;
    std::map<JobId, TimeMs> ends;
    auto pass = [&](TimeMs now) {
      PassResult r = core.Schedule(now);
      for (const StartDecision& s : r.starts) {
        running[s.id] = submitted[s.id];
        ends[s.id] = now + std::max<TimeMs>(1, submitted[s.id].time_limit_ms);
      }
      // Grace periods end at once here: victims go back to the queue.
      for (const Preemption& p : r.preemptions) {
        ASSERT_EQ(submitted[p.victim].qos < submitted[p.for_job].qos, true) << "victim QoS";
        ASSERT_TRUE(core.Requeue(p.victim, now).ok());
        running.erase(p.victim);
      }
    };
    JobId next = 1;
    TimeMs now = 0;
    for (; now < 400; ++now) {
      if (random.Uniform(0, 1) && next <= 150) {
        submitted[next] = random.Job(core);
        ASSERT_TRUE(core.AddPending(next, submitted[next], now).ok());
        ++next;
      }
      for (auto it = ends.begin(); it != ends.end();) {
        if (it->second > now || !running.count(it->first)) {
          it = running.count(it->first) ? std::next(it) : ends.erase(it);
          continue;
        }
        core.Finish(it->first);
        running.erase(it->first);
        it = ends.erase(it);
      }
      pass(now);
      CheckInvariants(core, running);
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Drain: no more submissions; everything queued must start eventually.
    for (int round = 0; round < 2000 && (core.pending_count() > 0 || !running.empty()); ++round) {
      for (const auto& [id, request] : running) core.Finish(id);
      running.clear();
      ends.clear();
      pass(now += 1000);  // past every prefer-one-leaf wait
      CheckInvariants(core, running);
    }
    EXPECT_EQ(core.pending_count(), 0u) << "queue stuck";
  }
}

// EASY's promise, over random clusters and queues: once the pass's starts are running and every
// job ends by its limit, the job holding the reservation fits at its expected start.
TEST(PropertyTest, BackfilledJobsNeverDelayTheReservation) {
  int reservations = 0, backfilled = 0;
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomStream random(seed);
    SchedulerCore core(std::make_unique<BackfillPolicy>(
        std::make_unique<GangPlacer>(), MultifactorPriority(PriorityWeights{}, {}),
        BackfillOptions{.max_reservations = 1, .preemption = false}));
    random.BuildCluster(&core.cluster());
    std::map<JobId, JobRequest> requests;
    std::map<JobId, TimeMs> ends;
    auto submit = [&](JobId id, TimeMs at) {
      JobRequest r = random.Job(core);
      r.leaf = LeafConstraint::kFewest;
      r.tenant.clear();
      requests[id] = r;
      ASSERT_TRUE(core.AddPending(id, r, at).ok());
    };
    for (JobId id = 1; id <= 20; ++id) submit(id, 0);  // fills the cluster at t=0
    for (const StartDecision& s : core.Schedule(0).starts) {
      ends[s.id] = ExpectedEnd(0, requests[s.id]);
    }
    for (JobId id = 100; id < 130; ++id) submit(id, 5);
    const TimeMs now = 5;
    PassResult r = core.Schedule(now);
    for (const StartDecision& s : r.starts) ends[s.id] = ExpectedEnd(now, requests[s.id]);
    backfilled += static_cast<int>(r.starts.size());
    for (const auto& [head, at] : r.expected_starts) {
      ++reservations;
      ASSERT_GE(at, now);
      Cluster later = core.cluster();
      for (const auto& [id, end] : ends) {
        if (end <= at) later.Release(id);
      }
      Allocation unused;
      EXPECT_TRUE(GangPlacer().Place(CapacityView(later), requests[head], &unused))
          << "job " << head << " does not fit at its expected start " << at;
    }
  }
  EXPECT_GT(reservations, 10);  // the property was exercised, not vacuous
  EXPECT_GT(backfilled, 10);
}

}  // namespace
}  // namespace loom::sched
