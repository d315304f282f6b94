#include "common/metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>

namespace loom::metrics {
namespace {

const Family* Find(const std::vector<Family>& fs, const std::string& name) {
  for (const Family& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(Registry, CountersAddUpPerLabelSet) {
  Registry r;
  r.Counter("loom_x_total", "x", {"cause"}).Inc({"qos"});
  r.Counter("loom_x_total", "x", {"cause"}).Inc({"qos"}, 2);
  r.Counter("loom_x_total", "x", {"cause"}).Inc({"node_fail"});
  r.Counter("loom_x_total", "x", {"cause"}).Inc({"qos"}, -5);  // counters never go down
  auto fs = r.Collect();
  const Family* f = Find(fs, "loom_x_total");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->samples.size(), 2u);
  EXPECT_EQ(f->samples[0].labels, (Labels{{"cause", "node_fail"}}));
  EXPECT_EQ(f->samples[0].value, 1);
  EXPECT_EQ(f->samples[1].value, 3);
}

TEST(Registry, HistogramBucketsTakeValuesAtTheirBound) {
  Registry r;
  auto& h = r.Histogram("loom_y_seconds", "y", {}, {0.1, 1});
  h.Observe({}, 0.1);  // le is inclusive
  h.Observe({}, 0.5);
  h.Observe({}, 3);
  auto fs = r.Collect();
  const Family* f = Find(fs, "loom_y_seconds");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->histograms.size(), 1u);
  EXPECT_EQ(f->histograms[0].counts, (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(f->histograms[0].count, 3u);
  EXPECT_DOUBLE_EQ(f->histograms[0].sum, 3.6);
  EXPECT_NE(Render(fs).find("loom_y_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos);
}

TEST(Registry, MisuseIsCountedNotApplied) {
  Registry r;
  r.Counter("loom_z_total", "z", {"a"}).Inc({"1"});
  r.Counter("loom_z_total", "z", {"b"}).Inc({"1"});   // other label names
  r.Histogram("loom_z_total", "z", {}).Observe({}, 1);  // a counter's name
  r.Counter("loom_z_total", "z", {"a"}).Inc({"1", "2"});  // wrong number of values: ignored
  auto fs = r.Collect();
  EXPECT_EQ(Find(fs, "loom_z_total")->samples.size(), 1u);
  EXPECT_EQ(Find(fs, "loom_z_total")->samples[0].value, 1);
  const Family* misuse = Find(fs, "loom_metrics_misuse_total");
  ASSERT_NE(misuse, nullptr);
  EXPECT_EQ(misuse->samples[0].value, 2);
}

TEST(Registry, ConcurrentIncrementsAllCount) {
  Registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) r.Counter("loom_c_total", "c", {}).Inc({});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Find(r.Collect(), "loom_c_total")->samples[0].value, 4000);
}

TEST(Registry, CollectIsSortedByName) {
  Registry r;
  r.Counter("loom_b_total", "", {}).Inc({});
  r.Histogram("loom_a_seconds", "", {}).Observe({}, 1);
  r.Counter("loom_c_total", "", {}).Inc({});
  auto fs = r.Collect();
  ASSERT_EQ(fs.size(), 3u);
  EXPECT_EQ(fs[0].name, "loom_a_seconds");
  EXPECT_EQ(fs[1].name, "loom_b_total");
  EXPECT_EQ(fs[2].name, "loom_c_total");
}

}  // namespace
}  // namespace loom::metrics
