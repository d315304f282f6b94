// loom export-trace's CSV, read back by loom-sim's trace parser (sim/workload.cc).
#include "cli/export_trace.h"

#include <gtest/gtest.h>

#include "sim/workload.h"

namespace loom::cli {
namespace {

v1::Job Finished(int64_t id, int64_t submit_ms, v1::JobState state, std::vector<std::pair<int64_t, int64_t>> runs) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  j.set_submit_time_ms(submit_ms);
  for (auto [start, end] : runs) {
    v1::JobRun* r = j.add_runs();
    r->set_start_ms(start);
    r->set_end_ms(end);
  }
  j.mutable_spec()->set_gpus(8);
  return j;
}

TEST(ExportTrace, RoundTripsThroughTheSimulatorsParser) {
  v1::Job a = Finished(7, 1'000'000, v1::COMPLETED, {{1'002'000, 1'062'500}});
  a.mutable_spec()->set_name("train,v2");  // a comma would split the row
  a.mutable_spec()->set_tenant("research");
  a.mutable_spec()->set_priority(-3);
  a.mutable_spec()->set_qos(2);
  a.mutable_spec()->set_time_limit_s(3600);
  a.mutable_spec()->set_gpus_per_node(4);
  // Requeued once: the trace's duration is the last attempt's run time.
  v1::Job b = Finished(9, 1'030'250, v1::FAILED, {{1'031'000, 1'040'000}, {1'050'000, 1'055'000}});
  b.mutable_spec()->set_gpus(1);
  const std::string csv = TraceCsv({b, a});  // out of order: sorted by submission
  auto jobs = sim::ParseTraceCsv(csv, "exported.csv");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString() << "\n" << csv;
  ASSERT_EQ(jobs->size(), 2u);
  const sim::SimJob& x = (*jobs)[0];
  EXPECT_EQ(x.id, 7);
  EXPECT_DOUBLE_EQ(x.arrival_s, 0);
  EXPECT_EQ(x.gpus, 8);
  EXPECT_DOUBLE_EQ(x.duration_s, 60.5);
  EXPECT_EQ(x.name, "train_v2");
  EXPECT_EQ(x.tenant, "research");
  EXPECT_EQ(x.priority, -3);
  EXPECT_EQ(x.qos, 2);
  EXPECT_DOUBLE_EQ(x.time_limit_s, 3600);
  EXPECT_EQ(x.gpus_per_node, 4);
  const sim::SimJob& y = (*jobs)[1];
  EXPECT_EQ(y.id, 9);
  EXPECT_DOUBLE_EQ(y.arrival_s, 30.25);
  EXPECT_EQ(y.gpus, 1);
  EXPECT_DOUBLE_EQ(y.duration_s, 5);
  EXPECT_DOUBLE_EQ(y.time_limit_s, 0);
  EXPECT_EQ(y.gpus_per_node, 0);
  // No jobs: a header the parser takes, and no rows.
  auto none = sim::ParseTraceCsv(TraceCsv({}), "empty.csv");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

TEST(ExportTrace, KeepsFinishedJobsThatRanInTheWindow) {
  const v1::Job done = Finished(1, 5'000, v1::COMPLETED, {{6'000, 9'000}});
  EXPECT_TRUE(InTrace(done, 5'000, 10'000));
  EXPECT_FALSE(InTrace(done, 5'001, 10'000));  // submitted before the window
  EXPECT_FALSE(InTrace(done, 0, 5'000));       // the window ends at its submission
  EXPECT_FALSE(InTrace(Finished(2, 5'000, v1::RUNNING, {{6'000, 0}}), 0, 10'000));  // not finished
  EXPECT_FALSE(InTrace(Finished(3, 5'000, v1::CANCELLED, {}), 0, 10'000));         // never ran
  EXPECT_TRUE(InTrace(Finished(4, 5'000, v1::TIMEOUT, {{6'000, 7'000}}), 0, 10'000));
}

}  // namespace
}  // namespace loom::cli
