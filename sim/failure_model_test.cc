// The failure model against published closed forms: Daly's optimum checkpoint interval, and
// Kokolis et al.'s (HPCA'25) expected ETTR, the latter by Monte Carlo through the simulator.
#include "sim/failure_model.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "sim/sim_test_util.h"
#include "sim/simulator.h"

namespace loom::sim {
namespace {

TEST(FailureModel, DalyIntervalMatchesThePublishedOptima) {
  EXPECT_NEAR(DalyInterval(5 * 60, 24 * 3600) / 60, 117, 117 * 0.02);
  EXPECT_NEAR(DalyInterval(5 * 60, 6 * 3600) / 60, 57, 57 * 0.02);
  EXPECT_DOUBLE_EQ(DalyInterval(10, 4), 4);  // δ ≥ 2M: checkpoint every MTBF
}

TEST(FailureModel, DefaultsAreLlama3s) {
  const FailureModel m = DefaultFailureModel();
  EXPECT_NEAR(m.rate_per_node_day * 1000, 3.8, 0.05);
  double sum = 0, gpu = 0;
  for (const FailureCause& c : m.causes) {
    sum += c.share;
    if (c.name == "gpu") gpu = c.share;
  }
  EXPECT_NEAR(sum, 1, 1e-9);
  EXPECT_DOUBLE_EQ(gpu, 0.587);
  // The job's own MTBF sets the interval: 2,048 nodes fail every ~3.1 h.
  EXPECT_NEAR(m.IntervalFor(2048), DalyInterval(30, 86400 / (2048 * m.rate_per_node_day)), 1e-9);
}

TEST(FailureModel, KokolisClosedFormAtThePublishedPoints) {
  const double r = 6.5 / 1000 / 86400;
  EXPECT_NEAR(KokolisEttr(2000, r, 300, 3600, 0), 0.684, 0.001);
  EXPECT_NEAR(KokolisEttr(2000, r, 300, 300, 0), 0.932, 0.001);
  // The exact form agrees to first order: where λ·Δt is small, and with no failures at all.
  EXPECT_NEAR(RenewalEttr(2000, r, 300, 300, 0), KokolisEttr(2000, r, 300, 300, 0), 0.005);
  EXPECT_NEAR(RenewalEttr(1, 0, 300, 600, 60), 600.0 / 660, 1e-12);
}

// One job on 2,000 of 2,112 nodes (spares replace failed ones), failing at 6.5 per 1,000
// node-days, u0 = 5 min, w = 0. The simulated ETTR is within 1% of the model's exact renewal value
// over the sweep, and within 5% of Kokolis' first-order closed form where that form's assumption
// (λ·(u0 + Δt) small) holds. At Δt = 60 min (λ·Δt = 0.54) the simulation gives 0.72, as the exact
// value does; the first-order form's 0.684 is 5.4% below both, so it is checked against the
// exact form there, not the approximation.
TEST(FailureModel, MonteCarloEttrMatchesKokolisOverASweep) {
  const sched::ClusterConfig cluster = TestCluster(66, 32);
  for (double interval_min : {5.0, 15.0, 30.0, 60.0}) {
    // Four seeds of a year of work each: about 4 × 4,700 failures at the longest interval.
    double work = 0, wall = 0;
    int attempts = 0;
    for (uint64_t seed : {7, 8, 9, 10}) {
      SimOptions o;
      o.cluster = cluster;
      o.seed = seed;
      o.failures = DefaultFailureModel();
      o.failures.rate_per_node_day = 6.5 / 1000;
      o.failures.detect_s = 0;
      o.failures.max_requeues = 1 << 30;  // a year of work is restarted for as long as it takes
      o.failures.restart_s = 300;
      o.failures.repair_s = 3600;
      o.failures.checkpoint_write_s = 0;
      o.failures.checkpoint_interval_s = interval_min * 60;
      o.sample_interval_s = 86400;
      SimJob job;
      job.id = 1;
      job.gpus = 16000;
      job.gpus_per_node = 8;
      job.duration_s = 365 * 86400.0;
      auto r = RunSimulation(o, {job});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      const JobResult& j = r->jobs.front();
      ASSERT_EQ(j.state, "COMPLETED");
      work += j.work_s;
      wall += j.end_s - j.start_s;
      attempts += j.attempts;
    }
    const double ettr = work / wall;
    const double expected = KokolisEttr(2000, 6.5 / 1000 / 86400, 300, interval_min * 60, 0);
    const double exact = RenewalEttr(2000, 6.5 / 1000 / 86400, 300, interval_min * 60, 0);
    std::printf("interval %2.0f min: ETTR %.3f (first-order %.3f, exact %.3f), %d attempts\n",
                interval_min, ettr, expected, exact, attempts);
    EXPECT_NEAR(ettr, exact, 0.01 * exact) << "interval " << interval_min << " min";
    if (interval_min <= 30) EXPECT_NEAR(ettr, expected, 0.05 * expected) << "interval " << interval_min << " min";
    EXPECT_GT(attempts, 4 * 3000);
  }
}

TEST(FailureModel, ParsesAndRefusesFiles) {
  auto m = ParseFailureModel(
      "rate_per_1000_node_days: 6.5\ncauses: {gpu: 0.5, network: 0.5}\ndetect: 10s\nrepair: 2h\n"
      "restart: 5m\ncheckpoint: {interval: 30m, write: 20s}\nmax_requeues: 3\n", "f.yaml");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_DOUBLE_EQ(m->rate_per_node_day, 0.0065);
  EXPECT_EQ(m->causes.size(), 2u);
  EXPECT_DOUBLE_EQ(m->detect_s, 10);
  EXPECT_DOUBLE_EQ(m->repair_s, 7200);
  EXPECT_DOUBLE_EQ(m->restart_s, 300);
  EXPECT_DOUBLE_EQ(m->checkpoint_interval_s, 1800);
  EXPECT_DOUBLE_EQ(m->checkpoint_write_s, 20);
  EXPECT_EQ(m->max_requeues, 3);
  EXPECT_DOUBLE_EQ(ParseFailureModel("checkpoint: {interval: daly}\n", "f.yaml")->checkpoint_interval_s, 0);

  auto negative = ParseFailureModel("rate_per_1000_node_days: -1\n", "f.yaml");
  EXPECT_EQ(negative.status().message(), "f.yaml: rate_per_1000_node_days: must not be negative");
  auto shares = ParseFailureModel("causes: {gpu: 0.5}\n", "f.yaml");
  EXPECT_NE(shares.status().message().find("f.yaml: causes: shares sum to"), std::string::npos);
  auto typo = ParseFailureModel("restrat: 5m\n", "f.yaml");
  EXPECT_NE(typo.status().message().find("restrat"), std::string::npos);
  EXPECT_EQ(ParseFailureModel("causes:\n  ? [gpu]\n  : 1\n", "f.yaml").status().message(),
            "f.yaml: causes: a key must be a plain name, not '[gpu]'");
  auto interval = ParseFailureModel("checkpoint: {interval: often}\n", "f.yaml");
  EXPECT_NE(interval.status().message().find("f.yaml: checkpoint.interval"), std::string::npos);
}

}  // namespace
}  // namespace loom::sim
