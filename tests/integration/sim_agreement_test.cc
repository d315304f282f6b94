// loom-sim against the real system: the same small trace of `sleep` jobs submitted to a real
// loomd with emulated workers (loopback) at its arrival times, then exported with `loom
// export-trace` (what loomd recorded: submissions and each job's run time) and replayed by the
// simulator on the same cluster with the same policy. Per job, the start (and so the queueing
// delay) and, over all, the mean JCT must agree within 10% of the JCT, plus 2 s on each start for
// what the simulator leaves out: heartbeats, the exit report's trip to loomd, the pass after it
// and process start-up on a loaded machine (docs/SIM.md, "Agreement with the real system").
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include "scheduler/config/cluster_config.h"
#include "sim/simulator.h"
#include "sim/workload.h"
#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

struct TraceJob {
  double arrival_s;
  int gpus;
  int sleep_s;
};

// 30 jobs over a minute, in bursts of three every 6 s, on 12 GPUs: enough to queue (about 9 GPUs
// wanted on average, and two-node jobs that wait for two whole nodes under FIFO).
std::vector<TraceJob> Trace() {
  const int gpus[] = {1, 2, 4, 1, 8, 2, 4, 1, 2, 4};
  const int sleeps[] = {3, 5, 7, 4, 6, 2, 8, 3, 5, 4, 6};
  std::vector<TraceJob> out;
  for (int i = 0; i < 30; ++i) out.push_back({6.0 * (i / 3) + 0.5 * (i % 3), gpus[i % 10], sleeps[i % 11]});
  return out;
}

TEST(SimAgreement, StartsAndJctMatchTheRealSystemOnTheSameTrace) {
  // The simulated cluster is LocalCluster's: three workers of four emulated GPUs, one switch.
  auto config = sched::ParseClusterConfig(
      "name: agree\nfabric: {link: loopback TCP, gbps_per_gpu: 10}\nnodes:\n"
      "  - {name: node-1, gpus: 4, model: H100-SXM-80GB, leaf: leaf-0, spine: spine-0}\n"
      "  - {name: node-2, gpus: 4, model: H100-SXM-80GB, leaf: leaf-0, spine: spine-0}\n"
      "  - {name: node-3, gpus: 4, model: H100-SXM-80GB, leaf: leaf-0, spine: spine-0}\n", "agree.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  LocalCluster::Options o;
  o.workers = 3;
  o.gpus_per_worker = 4;
  o.policy = "priority-fifo";
  LocalCluster cluster(o);
  ASSERT_TRUE(cluster.Start().ok());
  const std::string dir = cluster.MakeDir("agree");

  // Submitted at the trace's arrival times (a submission that runs late delays the next ones:
  // the export records when loomd took each, which is what the simulator replays).
  const std::vector<TraceJob> trace = Trace();
  std::vector<int64_t> ids;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < trace.size(); ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(static_cast<int64_t>(trace[i].arrival_s * 1000)));
    auto id = cluster.Submit({"--gpus", std::to_string(trace[i].gpus), "--name", "j" + std::to_string(i), "-D", dir,
                              "--", "/bin/sleep", std::to_string(trace[i].sleep_s)});
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ids.push_back(*id);
  }
  std::map<int64_t, v1::Job> real;
  for (int64_t id : ids) {
    auto j = cluster.WaitForState(id, v1::COMPLETED, std::chrono::seconds(240));
    ASSERT_TRUE(j.ok()) << j.status().ToString();
    ASSERT_EQ(j->state(), v1::COMPLETED) << "job " << id << ": " << j->reason();
    real[id] = *j;
  }

  const std::string csv = dir + "/trace.csv";
  CommandResult exported = cluster.Loom({"export-trace", "--since", "1h", "-o", csv});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  auto jobs = sim::LoadTrace(csv);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), trace.size());
  // The export carries what loomd measured: each job's run, a little over its sleep.
  for (size_t i = 0; i < trace.size(); ++i) {
    const sim::SimJob& j = (*jobs)[i];
    EXPECT_EQ(j.id, ids[i]);
    EXPECT_EQ(j.gpus, trace[i].gpus);
    EXPECT_GE(j.duration_s, trace[i].sleep_s - 0.01) << "job " << j.id;
    EXPECT_LT(j.duration_s, trace[i].sleep_s + 3.0) << "job " << j.id;
  }

  sim::SimOptions so;
  so.cluster = *config;
  so.policy = o.policy;
  auto simulated = sim::RunSimulation(so, *jobs);
  ASSERT_TRUE(simulated.ok()) << simulated.status().ToString();

  int64_t first_submit = real.begin()->second.submit_time_ms();
  for (const auto& [id, j] : real) first_submit = std::min(first_submit, j.submit_time_ms());
  double real_jct = 0, sim_jct = 0;
  std::map<int64_t, double> real_start, sim_start;
  for (const sim::JobResult& s : simulated->jobs) {
    ASSERT_EQ(s.state, "COMPLETED") << "job " << s.id;
    const v1::Job& j = real.at(s.id);
    const double start = (j.runs(j.runs_size() - 1).start_ms() - first_submit) / 1000.0;
    const double arrival = (j.submit_time_ms() - first_submit) / 1000.0;
    const double end = (j.runs(j.runs_size() - 1).end_ms() - first_submit) / 1000.0;
    real_start[s.id] = start;
    sim_start[s.id] = s.start_s;
    real_jct += end - arrival;
    sim_jct += s.end_s - s.arrival_s;
    std::printf("job %3lld  arrival %6.2f  start real %6.2f sim %6.2f  queued real %5.2f sim %5.2f\n",
                static_cast<long long>(s.id), arrival, start, s.start_s, start - arrival, s.start_s - s.arrival_s);
    EXPECT_NEAR(s.arrival_s, arrival, 0.01);
    EXPECT_NEAR(s.start_s, start, 0.1 * (end - arrival) + 2.0) << "job " << s.id;
  }
  real_jct /= real.size();
  sim_jct /= real.size();
  std::printf("mean JCT: real %.2f s, simulated %.2f s\n", real_jct, sim_jct);
  EXPECT_NEAR(sim_jct, real_jct, 0.1 * real_jct);
  // The order of starts: two jobs the simulator starts more than 2 s apart start in that order.
  int flipped = 0;
  for (const auto& [a, sa] : sim_start) {
    for (const auto& [b, sb] : sim_start) flipped += sa + 2.0 < sb && real_start[a] > real_start[b];
  }
  EXPECT_EQ(flipped, 0);
}

}  // namespace
}  // namespace loom::testing
