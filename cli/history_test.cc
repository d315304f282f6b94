#include "cli/history.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include "cli/job_format.h"

namespace loom::cli {
namespace {

constexpr int64_t kNow = 1764633600000;  // 2025-12-02 00:00:00 UTC

// Times print and parse in local time: the tests pin it to UTC.
class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = getenv("TZ");
    saved_ = tz ? tz : "";
    had_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_) setenv("TZ", saved_.c_str(), 1); else unsetenv("TZ");
    tzset();
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(HistoryTest, WhenIsADurationBackFromNowOrALocalDate) {
  EXPECT_EQ(*ParseWhen("7d", kNow), kNow - 7 * 86400 * 1000LL);
  EXPECT_EQ(*ParseWhen("90m", kNow), kNow - 90 * 60 * 1000LL);
  EXPECT_EQ(*ParseWhen("now", kNow), kNow);
  EXPECT_EQ(*ParseWhen("2025-12-01", kNow), kNow - 86400 * 1000LL);
  EXPECT_EQ(*ParseWhen("2025-12-01T12:30", kNow), kNow - 11 * 3600 * 1000LL - 30 * 60 * 1000LL);
  EXPECT_EQ(*ParseWhen("2025-12-01 12:30:15", kNow), kNow - 11 * 3600 * 1000LL - 29 * 60 * 1000LL - 45 * 1000LL);
  for (const char* bad : {"yesterdayish", "", "2025-13-45x", "7 days"}) {
    auto w = ParseWhen(bad, kNow);
    ASSERT_FALSE(w.ok()) << bad;
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(w.status().message().find("invalid time '" + std::string(bad) + "'"), std::string::npos);
    EXPECT_EQ(w.status().message().find('\n'), std::string::npos);  // one line
  }
}

TEST_F(HistoryTest, FlagsBecomeTheServersFilters) {
  HistoryFlags f;
  f.since = "1d";
  f.until = "12h";
  f.tenant = "llm";
  f.name = "pretrain";
  auto req = HistoryRequest(f, kNow);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  EXPECT_TRUE(req->include_finished());
  EXPECT_EQ(req->window().from_ms(), kNow - 86400000);
  EXPECT_EQ(req->window().to_ms(), kNow - 43200000);
  EXPECT_EQ(req->tenant(), "llm");
  EXPECT_EQ(req->name(), "pretrain");
  EXPECT_EQ(req->states_size(), 5);  // every final state by default
  f.states = {"FAILED", "TIMEOUT"};
  req = HistoryRequest(f, kNow);
  ASSERT_TRUE(req.ok());
  ASSERT_EQ(req->states_size(), 2);
  EXPECT_EQ(req->states(0), v1::FAILED);
  EXPECT_EQ(req->states(1), v1::TIMEOUT);
}

TEST_F(HistoryTest, BadFlagsAreOneClearLine) {
  HistoryFlags f;
  f.since = "yesterdayish";
  EXPECT_NE(HistoryRequest(f, kNow).status().message().find("invalid time 'yesterdayish'"), std::string::npos);
  f = {};
  f.since = "1d";
  f.until = "2d";  // two days ago: before one day ago
  EXPECT_EQ(HistoryRequest(f, kNow).status().message(), "--until must be after --since");
  f = {};
  f.states = {"DONE"};
  EXPECT_NE(HistoryRequest(f, kNow).status().message().find("unknown state 'DONE'"), std::string::npos);
  f = {};
  f.limit = -1;
  EXPECT_EQ(HistoryRequest(f, kNow).status().message(), "--limit must not be negative");
}

v1::Job FinishedJob() {
  v1::Job j;
  j.set_id(17);
  j.mutable_spec()->set_name("pretrain");
  j.mutable_spec()->set_tenant("llm");
  j.mutable_spec()->set_gpus(8);
  j.set_state(v1::FAILED);
  j.set_exit_code(3);
  j.set_attempt(2);
  j.set_submit_time_ms(kNow - 4 * 3600 * 1000);
  // Two attempts: 1 h (preempted), then 30 min, on 8 GPUs: 12 GPU-hours.
  v1::JobRun* r1 = j.add_runs();
  r1->set_gpus(8);
  r1->set_start_ms(kNow - 3 * 3600 * 1000);
  r1->set_end_ms(kNow - 2 * 3600 * 1000);
  r1->set_steps(10);
  r1->set_step_time_s(100);
  r1->set_peak_flops(1e15);
  r1->set_model_flops(30e15);  // 30% MFU over its steps
  v1::JobRun* r2 = j.add_runs();
  r2->set_gpus(8);
  r2->set_start_ms(kNow - 3600 * 1000);
  r2->set_end_ms(kNow - 1800 * 1000);
  r2->set_steps(10);
  r2->set_step_time_s(100);
  r2->set_peak_flops(1e15);
  r2->set_model_flops(50e15);  // 50%: the job's is (30 + 50) / 200 = 40%
  j.set_start_time_ms(r2->start_ms());
  j.set_end_time_ms(r2->end_ms());
  return j;
}

TEST_F(HistoryTest, RowHasSacctsColumns) {
  const v1::Job j = FinishedJob();
  const std::vector<std::string> header = HistoryHeader();
  const std::vector<std::string> row = HistoryRow(j, kNow);
  ASSERT_EQ(row.size(), header.size());
  const std::vector<std::string> want = {"17", "pretrain", "llm", "FAILED", "2025-12-01 20:00:00", "2025-12-01 23:00:00",
                                         "2025-12-01 23:30:00", "0:30:00", "8", "12.00", "3", "2", "40.0%"};
  EXPECT_EQ(row, want);
  const nlohmann::json json = HistoryJson(j, kNow);
  EXPECT_EQ(json["gpu_hours"].get<double>(), 12.0);
  EXPECT_EQ(json["elapsed_s"].get<int64_t>(), 1800);
  EXPECT_NEAR(json["mfu"].get<double>(), 0.4, 1e-12);
  EXPECT_EQ(json["state"], "FAILED");
}

TEST_F(HistoryTest, AJobThatNeverStartedHasDashes) {
  v1::Job j;
  j.set_id(3);
  j.set_state(v1::CANCELLED);
  j.mutable_spec()->set_gpus(4);
  j.set_submit_time_ms(kNow - 60000);
  j.set_end_time_ms(kNow);
  const std::vector<std::string> row = HistoryRow(j, kNow);
  EXPECT_EQ(row[5], "-");          // START
  EXPECT_EQ(row[7], "0:00:00");    // ELAPSED
  EXPECT_EQ(row[9], "0.00");       // GPU-HOURS
  EXPECT_EQ(row[11], "0");         // ATTEMPTS
  EXPECT_EQ(row[12], "-");         // MFU: no steps reported
  EXPECT_TRUE(HistoryJson(j, kNow)["mfu"].is_null());
}

}  // namespace
}  // namespace loom::cli
