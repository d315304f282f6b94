#include "common/metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace loom::metrics {
namespace {

TEST(Exposition, GaugeWithLabelsAndHelp) {
  std::vector<Family> fs;
  Family& f = AddFamily(fs, "loom_gpus", "GPUs by state", Type::kGauge);
  Add(f, {{"state", "allocated"}}, 8);
  Add(f, {{"state", "up"}}, 12);
  EXPECT_EQ(Render(fs),
            "# HELP loom_gpus GPUs by state\n"
            "# TYPE loom_gpus gauge\n"
            "loom_gpus{state=\"allocated\"} 8\n"
            "loom_gpus{state=\"up\"} 12\n");
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  std::vector<Family> fs;
  Family& f = AddFamily(fs, "loom_x", "line one\nback\\slash", Type::kGauge);
  Add(f, {{"name", "a\"b\\c\nd"}}, 1);
  std::string text = Render(fs);
  EXPECT_NE(text.find("# HELP loom_x line one\\nback\\\\slash\n"), std::string::npos) << text;
  EXPECT_NE(text.find("loom_x{name=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Exposition, ValuesAsPrometheusWritesThem) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2), "-2");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatValue(0.1)), 0.1);  // round-trips
}

TEST(Exposition, HistogramBucketsAreCumulativeWithInf) {
  std::vector<Family> fs;
  Family& f = AddFamily(fs, "loom_pass_seconds", "pass", Type::kHistogram);
  f.histograms.push_back({{{"policy", "fifo"}}, {0.1, 1}, {2, 1}, 7.5, 4});
  EXPECT_EQ(Render(fs),
            "# HELP loom_pass_seconds pass\n"
            "# TYPE loom_pass_seconds histogram\n"
            "loom_pass_seconds_bucket{policy=\"fifo\",le=\"0.10000000000000001\"} 2\n"
            "loom_pass_seconds_bucket{policy=\"fifo\",le=\"1\"} 3\n"
            "loom_pass_seconds_bucket{policy=\"fifo\",le=\"+Inf\"} 4\n"
            "loom_pass_seconds_sum{policy=\"fifo\"} 7.5\n"
            "loom_pass_seconds_count{policy=\"fifo\"} 4\n");
}

TEST(Exposition, BadFamiliesAreLeftOutNotBroken) {
  std::vector<Family> fs;
  Add(AddFamily(fs, "loom_jobs_submitted", "no _total", Type::kCounter), {}, 1);
  Add(AddFamily(fs, "9lives", "bad name", Type::kGauge), {}, 1);
  Add(AddFamily(fs, "loom_ok", "bad label", Type::kGauge), {{"__reserved", "x"}}, 1);
  Add(AddFamily(fs, "loom_good_total", "good", Type::kCounter), {}, 2);
  std::string text = Render(fs);
  EXPECT_NE(text.find("# loom: left out 'loom_jobs_submitted': counter name must end in _total"), std::string::npos);
  EXPECT_NE(text.find("# loom: left out '9lives': invalid metric name"), std::string::npos);
  EXPECT_NE(text.find("# loom: left out 'loom_ok': invalid label name"), std::string::npos);
  EXPECT_NE(text.find("loom_good_total 2\n"), std::string::npos);
  EXPECT_EQ(text.find("loom_ok{"), std::string::npos);
}

TEST(Exposition, Names) {
  EXPECT_TRUE(ValidMetricName("loom_rpc:rate5m"));
  EXPECT_FALSE(ValidMetricName("loom-gpus"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("gpu"));
  EXPECT_FALSE(ValidLabelName("a:b"));
  EXPECT_FALSE(ValidLabelName("__name__"));
}

}  // namespace
}  // namespace loom::metrics
