#include "sim/workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace loom::sim {
namespace {

TEST(TraceCsv, ReadsRequiredAndOptionalColumnsInAnyOrder) {
  auto jobs = ParseTraceCsv(
      "gpus,arrival_s,duration_s,tenant,id,model,steps,qos,time_limit_s,gpus_per_node\n"
      "8,10,3600,research,7,,,1,7200,4\n"
      "2,5,,prod,9,7B,100,,,\n",
      "t.csv");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 2u);
  const SimJob& first = (*jobs)[0];  // sorted by arrival
  EXPECT_EQ(first.id, 9);
  EXPECT_EQ(first.model, "7B");
  EXPECT_EQ(first.steps, 100);
  EXPECT_EQ(first.duration_s, 0);
  const SimJob& second = (*jobs)[1];
  EXPECT_EQ(second.id, 7);
  EXPECT_EQ(second.gpus, 8);
  EXPECT_EQ(second.gpus_per_node, 4);
  EXPECT_EQ(second.qos, 1);
  EXPECT_DOUBLE_EQ(second.time_limit_s, 7200);
  EXPECT_DOUBLE_EQ(second.duration_s, 3600);
  EXPECT_EQ(second.tenant, "research");
}

TEST(TraceCsv, MalformedRowsNameFileAndLine) {
  auto expect = [](const std::string& text, const std::string& message) {
    auto jobs = ParseTraceCsv(text, "t.csv");
    ASSERT_FALSE(jobs.ok()) << text;
    EXPECT_EQ(jobs.status().message(), message);
  };
  expect("arrival_s,gpus,duration_s\n0,1,60\n5,x,60\n", "t.csv: line 3: gpus: 'x' is not a positive integer");
  expect("arrival_s,gpus,duration_s\n-1,1,60\n", "t.csv: line 2: arrival_s: '-1' is not a non-negative number");
  expect("arrival_s,gpus\n0,1\n", "t.csv: line 2: give either duration_s or model and steps");
  expect("arrival_s,gpus,model,steps\n0,1,13B,5\n",
         "t.csv: line 2: model: unknown model preset '13B' (known: 1.3B, 125M, 405B, 70B, 7B)");
  expect("arrival_s,gpus,duration_s\n0,1\n", "t.csv: line 2: 2 fields, the header has 3");
  expect("arrival_s,gpu,duration_s\n", "t.csv: line 1: unknown column 'gpu'");
  expect("gpus,duration_s\n", "t.csv: line 1: no arrival_s column");
  expect("id,arrival_s,gpus,duration_s\n1,0,1,5\n1,0,1,5\n", "t.csv: line 3: id 1 twice");
  expect("", "t.csv: no header row");
}

TEST(Synthetic, DefaultMixIsPhillyLike) {
  SyntheticSpec spec = *ParseSyntheticSpec("jobs: 20000\narrival_rate_per_hour: 600\n", "w.yaml");
  const std::vector<SimJob> jobs = Generate(spec, 3);
  ASSERT_EQ(jobs.size(), 20000u);
  std::map<int, int> sizes;
  for (const SimJob& j : jobs) {
    ++sizes[j.gpus];
    EXPECT_GE(j.duration_s, 120);
    EXPECT_LE(j.duration_s, 2 * 86400);
  }
  EXPECT_NEAR(sizes[1] / 20000.0, 0.7, 0.02);
  EXPECT_NEAR(sizes[2] / 20000.0, 0.1, 0.02);
  EXPECT_NEAR(sizes[4] / 20000.0, 0.15, 0.02);
  EXPECT_NEAR(sizes[8] / 20000.0, 0.05, 0.02);
  // Poisson arrivals at 600 an hour: the last arrives near 20000 / 600 hours.
  EXPECT_NEAR(jobs.back().arrival_s / 3600, 20000 / 600.0, 2);
  // Log-uniform: the median duration is the geometric mean of the range.
  std::vector<double> d;
  for (const SimJob& j : jobs) d.push_back(j.duration_s);
  std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
  EXPECT_NEAR(std::log(d[d.size() / 2]), 0.5 * (std::log(120.0) + std::log(2 * 86400.0)), 0.1);
  // Same seed, same jobs.
  EXPECT_EQ(Generate(spec, 3).back().arrival_s, jobs.back().arrival_s);
}

TEST(Synthetic, TenantsAndLargeJobs) {
  auto spec = ParseSyntheticSpec(
      "jobs: 10000\ntenants: {a: 3, b: 1}\nlarge: {share: 0.1, gpus: [256, 512], duration: {min: 1h, max: 2h}, model: 7B}\n"
      "time_limit_factor: 0\n", "w.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  int a = 0, large = 0;
  for (const SimJob& j : Generate(*spec, 1)) {
    a += j.tenant == "a";
    if (j.gpus >= 256) {
      ++large;
      EXPECT_GE(j.duration_s, 3600);
      EXPECT_LE(j.duration_s, 7200);
      EXPECT_EQ(j.model, "7B");
    } else {
      EXPECT_EQ(j.model, "");
    }
    EXPECT_EQ(j.time_limit_s, 0);
  }
  EXPECT_NEAR(a / 10000.0, 0.75, 0.02);
  EXPECT_NEAR(large / 10000.0, 0.1, 0.02);
}

TEST(Synthetic, BadSpecsAreOneLineNamingTheKey) {
  EXPECT_EQ(ParseSyntheticSpec("jobs: -3\n", "w.yaml").status().message(), "w.yaml: jobs: must be positive");
  EXPECT_EQ(ParseSyntheticSpec("sizes:\n  ? {8: 1}\n  : 1\n", "w.yaml").status().message(),
            "w.yaml: sizes: a key must be a plain name, not '{8: 1}'");
  EXPECT_EQ(ParseSyntheticSpec("sizes: {x: 1}\n", "w.yaml").status().message(),
            "w.yaml: sizes.x: not a positive GPU count");
  EXPECT_EQ(ParseSyntheticSpec("duration: {min: 2h, max: 1h}\n", "w.yaml").status().message(),
            "w.yaml: duration.max: must not be below min");
  EXPECT_NE(ParseSyntheticSpec("large: {gpus: [8], model: 9B}\n", "w.yaml").status().message().find(
                "w.yaml: large.model: unknown model preset '9B'"),
            std::string::npos);
  EXPECT_NE(ParseSyntheticSpec("job: 3\n", "w.yaml").status().message().find("job"), std::string::npos);
}

}  // namespace
}  // namespace loom::sim
