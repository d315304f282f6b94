// The driver over Loom's own scheduler core and policies: start times as the policy decides them,
// failures, requeues, time limits, and the work time of model + steps jobs.
#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/report.h"
#include "sim/sim_test_util.h"

namespace loom::sim {
namespace {

SimJob Job(int64_t id, double arrival, int gpus, double duration, double limit = 0) {
  SimJob j;
  j.id = id;
  j.arrival_s = arrival;
  j.gpus = gpus;
  j.duration_s = duration;
  j.time_limit_s = limit;
  j.tenant = id % 2 ? "a" : "b";
  return j;
}

SimResult Simulate(const std::string& policy, const std::vector<SimJob>& jobs,
                   FailureModel failures = NoFailures(), uint64_t seed = 1) {
  SimOptions o;
  o.cluster = TestCluster(1, 2);  // 2 nodes of 8 GPUs
  o.policy = policy;
  o.failures = failures;
  o.seed = seed;
  auto r = RunSimulation(o, jobs);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

// A blocked 16-GPU job at the head of the queue; a short 8-GPU job behind it.
std::vector<SimJob> BackfillCase() {
  return {Job(1, 0, 8, 1000, 1000), Job(2, 10, 16, 100, 200), Job(3, 20, 8, 100, 200)};
}

TEST(Simulator, PriorityFifoWaitsBehindTheHead) {
  const SimResult r = Simulate("priority-fifo", BackfillCase());
  EXPECT_DOUBLE_EQ(r.jobs[0].start_s, 0);
  EXPECT_DOUBLE_EQ(r.jobs[0].end_s, 1000);
  EXPECT_DOUBLE_EQ(r.jobs[1].start_s, 1000);
  EXPECT_DOUBLE_EQ(r.jobs[1].end_s, 1100);
  EXPECT_DOUBLE_EQ(r.jobs[2].start_s, 1100);
  for (const JobResult& j : r.jobs) {
    EXPECT_EQ(j.state, "COMPLETED");
    EXPECT_EQ(j.attempts, 1);
  }
}

TEST(Simulator, BackfillStartsTheShortJobInTheGap) {
  const SimResult r = Simulate("multifactor-backfill", BackfillCase());
  EXPECT_DOUBLE_EQ(r.jobs[2].start_s, 20);  // ends at 220 by its limit, before the reservation
  EXPECT_DOUBLE_EQ(r.jobs[2].end_s, 120);
  EXPECT_DOUBLE_EQ(r.jobs[1].start_s, 1000);
  const Summary s = Summarize(r);
  EXPECT_EQ(s.completed, 3);
  EXPECT_NEAR(s.jct_s.mean, (1000 + 1090 + 100) / 3.0, 1e-9);
  EXPECT_NEAR(s.allocation, (8 * 1000 + 16 * 100 + 8 * 100) / (16 * 1100.0), 1e-9);
}

TEST(Simulator, TimeLimitEndsTheJobTimeout) {
  const SimResult r = Simulate("priority-fifo", {Job(1, 0, 4, 500, 300)});
  EXPECT_EQ(r.jobs[0].state, "TIMEOUT");
  EXPECT_DOUBLE_EQ(r.jobs[0].end_s, 300);
}

TEST(Simulator, JobsThatCanNeverRunAreRefused) {
  const SimResult r = Simulate("priority-fifo", {Job(1, 0, 64, 10), Job(2, 0, 1, 10)});
  EXPECT_EQ(r.jobs[0].state, "REFUSED");
  EXPECT_NE(r.jobs[0].refused_why.find("16 GPUs in all"), std::string::npos);
  EXPECT_EQ(r.jobs[1].state, "COMPLETED");
}

FailureModel Frequent() {
  FailureModel f = DefaultFailureModel();
  f.rate_per_node_day = 24;  // once an hour per node
  f.detect_s = 5;
  f.repair_s = 60;
  f.restart_s = 30;
  f.checkpoint_write_s = 10;
  f.checkpoint_interval_s = 600;
  return f;
}

TEST(Simulator, FailedAttemptsAreRequeuedAndLoseWorkSinceTheirCheckpoint) {
  const SimResult r = Simulate("priority-fifo", {Job(1, 0, 16, 6 * 3600)}, Frequent(), 5);
  const JobResult& j = r.jobs[0];
  EXPECT_EQ(j.state, "COMPLETED");
  EXPECT_GT(j.attempts, 3);
  EXPECT_EQ(r.failures, j.attempts - 1);  // both nodes run the job: every failure hits it
  double lost = 0;
  for (const auto& [cause, gpu_s] : r.lost_gpu_s) lost += gpu_s;
  EXPECT_GT(lost, 0);
  // Wall time = work + checkpoint writes + restarts + lost work and detection + waits in the
  // queue for a repaired node (the job needs both nodes).
  const double wall = j.end_s - j.start_s;
  EXPECT_GT(j.queued_s, 0);
  EXPECT_NEAR(16 * wall, 16 * (j.work_s + j.queued_s) + r.checkpoint_gpu_s + r.restart_gpu_s + lost,
              16 * 1e-3 * j.attempts);
  EXPECT_LT(Summarize(r).ettr, 1);
}

TEST(Simulator, RequeueCapEndsTheJobNodeFail) {
  FailureModel f = Frequent();
  f.max_requeues = 0;
  const SimResult r = Simulate("priority-fifo", {Job(1, 0, 16, 6 * 3600)}, f, 5);
  EXPECT_EQ(r.jobs[0].state, "NODE_FAIL");
  EXPECT_EQ(r.jobs[0].attempts, 1);
}

TEST(Simulator, SameSeedSameRun) {
  std::vector<SimJob> jobs;
  for (int i = 1; i <= 200; ++i) jobs.push_back(Job(i, i * 30.0, 1 << (i % 4), 600 + 37 * (i % 11)));
  const SimResult a = Simulate("multifactor-backfill", jobs, Frequent(), 9);
  const SimResult b = Simulate("multifactor-backfill", jobs, Frequent(), 9);
  ASSERT_EQ(a.jobs.size(), b.jobs.size());
  for (size_t i = 0; i < a.jobs.size(); ++i) {
    EXPECT_EQ(a.jobs[i].start_s, b.jobs[i].start_s);
    EXPECT_EQ(a.jobs[i].end_s, b.jobs[i].end_s);
    EXPECT_EQ(a.jobs[i].attempts, b.jobs[i].attempts);
  }
  EXPECT_EQ(a.events, b.events);
  const SimResult c = Simulate("multifactor-backfill", jobs, Frequent(), 10);
  EXPECT_NE(a.failures == c.failures && a.events == c.events, true);
}

TEST(Simulator, ModelJobsRunForTheirStepsAtThePerformanceModelsStepTime) {
  SimJob j = Job(1, 0, 8, 0);
  j.model = "1.3B";
  j.steps = 1000;
  const SimResult r = Simulate("priority-fifo", {j});
  auto work = WorkOf(j, 8, 2, "H100-SXM-80GB", DefaultPerfInputs());
  ASSERT_TRUE(work.ok());
  EXPECT_GT(work->seconds, 0);
  EXPECT_NEAR(r.jobs[0].end_s - r.jobs[0].start_s, work->seconds, 1e-3);
  EXPECT_GT(r.jobs[0].tflops_per_gpu, 0);
  const Summary s = Summarize(r);
  EXPECT_NEAR(s.cluster_mfu, r.jobs[0].model_flops / (16 * 989e12 * r.end_s), 1e-9);
}

TEST(Simulator, GeneratedModelJobsRunTheirDurationAndCountTheStepsThatFit) {
  SimJob j = Job(1, 0, 8, 3600);
  j.model = "1.3B";
  const SimResult r = Simulate("priority-fifo", {j});
  EXPECT_DOUBLE_EQ(r.jobs[0].end_s, 3600);
  SimJob one_step = j;
  one_step.steps = 1;
  one_step.duration_s = 0;
  const double step_s = WorkOf(one_step, 8, 2, "H100-SXM-80GB", DefaultPerfInputs())->seconds;
  EXPECT_NEAR(r.jobs[0].model_flops / std::floor(3600 / step_s),
              WorkOf(one_step, 8, 2, "H100-SXM-80GB", DefaultPerfInputs())->model_flops, 1);
}

TEST(Simulator, JsonHoldsEveryJobAndTheLevelsOverTime) {
  const SimResult r = Simulate("multifactor-backfill", BackfillCase());
  const nlohmann::json j = RunJson(Summarize(r), r);
  ASSERT_EQ(j["jobs"].size(), 3u);
  EXPECT_EQ(j["jobs"][2]["id"], 3);
  EXPECT_EQ(j["jobs"][2]["arrival_s"], 20.0);
  EXPECT_EQ(j["jobs"][2]["start_s"], 20.0);
  EXPECT_EQ(j["jobs"][2]["end_s"], 120.0);
  EXPECT_EQ(j["jobs"][2]["attempts"], 1);
  EXPECT_EQ(j["summary"]["completed"], 3);
  ASSERT_GE(j["over_time"].size(), 2u);  // a sample at 0 and every 10 minutes
  EXPECT_EQ(j["over_time"][1]["t_s"], 600.0);
  EXPECT_EQ(j["over_time"][1]["gpus_allocated"], 8);  // job 1 runs; job 3 has ended
  EXPECT_EQ(j["over_time"][1]["pending"], 1);          // job 2 waits for its reservation
}

// Leaves of 2, 1 and 1 nodes: a 2-node job fits under the first leaf, or spans the other two.
TEST(Simulator, ModelJobsSpanningLeavesRunAtTheSpinesSpeed) {
  const std::string yaml =
      "name: uneven\nfabric: {link: IB, gbps_per_gpu: 400}\nleaves_per_spine: 16\nleaf_groups:\n"
      "  - {count: 1, nodes_per_leaf: 2, gpus_per_node: 8, model: H100-SXM-80GB}\n"
      "  - {count: 2, nodes_per_leaf: 1, gpus_per_node: 8, model: H100-SXM-80GB}\n";
  SimOptions o;
  o.cluster = *sched::ParseClusterConfig(yaml, "uneven.yaml");
  o.policy = "priority-fifo";
  o.perf.links.spine = {100e-6, 5};  // a slow spine, so the difference is large
  SimJob train = Job(2, 1, 16, 0);
  train.model = "1.3B";
  train.steps = 200;
  train.gpus_per_node = 8;
  const JobWork work = *WorkOf(train, 8, 2, "H100-SXM-80GB", o.perf);
  ASSERT_GT(work.spread_factor, 1.5);

  // Alone, it gets the 2-node leaf: the packed speed.
  auto alone = RunSimulation(o, {train});
  ASSERT_TRUE(alone.ok());
  EXPECT_NEAR(alone->jobs[0].end_s - alone->jobs[0].start_s, work.seconds, 1e-3);
  // A 2-node job holding the first leaf leaves it the two 1-node leaves: slower by the factor.
  SimJob blocker = Job(1, 0, 16, 1e6);
  blocker.gpus_per_node = 8;
  auto spread = RunSimulation(o, {blocker, train});
  ASSERT_TRUE(spread.ok());
  const JobResult& t = spread->jobs[1];
  EXPECT_DOUBLE_EQ(t.start_s, 1);
  EXPECT_NEAR(t.end_s - t.start_s, work.seconds * work.spread_factor, 1e-3);
  EXPECT_NEAR(t.useful_s, work.seconds * work.spread_factor, 1e-3);
}

TEST(Simulator, HtmlReportDrawsFourChartsInChromium) {
  const SimResult r = Simulate("multifactor-backfill", BackfillCase());
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "loom_sim_report_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "report.html").string();
  Status s = WriteHtmlReport(path, "test", Summarize(r), r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string html = text.str();
  auto count = [](const std::string& hay, const std::string& needle) {
    int n = 0;
    for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(html, "new uPlot("), 4);
  EXPECT_NE(html.find("JCT CDF"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // self-contained: no network
  if (std::system("command -v chromium > /dev/null 2>&1") != 0) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "chromium not installed (apt-get install chromium): the page's rendering is not checked";
  }
  // The rendered DOM: uPlot puts each chart's canvas in a div of class "uplot".
  const std::string dom = (dir / "dom.html").string();
  const std::string cmd = "timeout 90 chromium --headless --no-sandbox --disable-gpu --no-first-run "
                          "--disable-background-networking --user-data-dir=" + (dir / "profile").string() +
                          " --virtual-time-budget=5000 --dump-dom 'file://" + path + "' > " + dom + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream dumped(dom);
  std::stringstream rendered;
  rendered << dumped.rdbuf();
  EXPECT_EQ(count(rendered.str(), "<canvas"), 4) << rendered.str().substr(0, 2000);
  EXPECT_GE(count(rendered.str(), "class=\"uplot"), 4);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loom::sim
