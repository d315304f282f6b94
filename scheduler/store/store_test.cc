#include "scheduler/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace loom::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/loomd.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static v1::Job MakeJob(int64_t id, v1::JobState state) {
    v1::Job j;
    j.set_id(id);
    j.set_state(state);
    j.mutable_spec()->set_name("job" + std::to_string(id));
    j.mutable_spec()->set_gpus(4);
    j.mutable_spec()->add_command("/bin/true");
    (*j.mutable_spec()->mutable_env())["K"] = "V";
    auto* a = j.add_allocation();
    a->set_node("n0");
    a->add_gpu_indices(0);
    a->add_gpu_indices(3);
    return j;
  }

  std::string dir_, path_;
};

TEST_F(StoreTest, RoundTripsJobsNodesAndEvents) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  v1::Job j1 = MakeJob(1, v1::PENDING), j2 = MakeJob(2, v1::RUNNING);
  v1::Node n;
  n.set_name("n0");
  n.set_address("127.0.0.1:1234");
  (*n.mutable_labels())["leaf"] = "l0";
  n.add_gpus()->set_model("H100-SXM-80GB");
  Batch b;
  b.jobs = {&j2, &j1};
  b.nodes = {&n};
  b.events = {{10, 1, "", "submitted"}, {11, 2, "n0", "started"}};
  ASSERT_TRUE((*store)->Commit(b).ok());

  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id(), 1);  // by id
  EXPECT_EQ((*jobs)[1].state(), v1::RUNNING);
  EXPECT_EQ((*jobs)[1].allocation(0).gpu_indices(1), 3);
  EXPECT_EQ((*jobs)[0].spec().env().at("K"), "V");
  auto nodes = (*store)->LoadNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].labels().at("leaf"), "l0");
  auto events = (*store)->LoadEvents(2);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].what, "started");
  EXPECT_EQ(*(*store)->MaxJobId(), 2);
}

TEST_F(StoreTest, ReopenRecoversLatestState) {
  {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok());
    v1::Job j = MakeJob(7, v1::PENDING);
    Batch b;
    b.jobs = {&j};
    ASSERT_TRUE((*store)->Commit(b).ok());
    j.set_state(v1::RUNNING);
    ASSERT_TRUE((*store)->Commit(b).ok());  // the same id is replaced, not duplicated
  }
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state(), v1::RUNNING);
}

TEST_F(StoreTest, FairShareUsageRoundTripsAndIsReplacedPerTenant) {
  {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok());
    EXPECT_TRUE((*store)->LoadFairShareUsage()->empty());
    Batch b;
    b.fair_share_usage = {{"research", 1.5e9, 1000}, {"evals", 0.125, 1000}};
    ASSERT_TRUE((*store)->Commit(b).ok());
    b.fair_share_usage = {{"research", 2.25e9, 5000}};  // a later pass: research changed
    ASSERT_TRUE((*store)->Commit(b).ok());
  }
  auto store = Store::Open(path_);  // and it survives a reopen
  ASSERT_TRUE(store.ok());
  auto usage = (*store)->LoadFairShareUsage();
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  ASSERT_EQ(usage->size(), 2u);
  EXPECT_EQ((*usage)[0].tenant, "evals");  // by tenant
  EXPECT_EQ((*usage)[0].gpu_ms, 0.125);
  EXPECT_EQ((*usage)[0].as_of_ms, 1000);
  EXPECT_EQ((*usage)[1].tenant, "research");
  EXPECT_EQ((*usage)[1].gpu_ms, 2.25e9);
  EXPECT_EQ((*usage)[1].as_of_ms, 5000);
}

// A commit is all or nothing: a failing write inside a batch leaves the earlier ones undone.
TEST_F(StoreTest, FailedBatchWritesNothing) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  {  // a trigger that makes any insert of job 99 fail
    sqlite3* db;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER no99 BEFORE INSERT ON jobs WHEN NEW.id = 99 "
                           "BEGIN SELECT RAISE(ABORT, 'job 99 refused'); END;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  v1::Job ok = MakeJob(1, v1::PENDING), bad = MakeJob(99, v1::PENDING);
  Batch b;
  b.jobs = {&ok, &bad};
  Status s = (*store)->Commit(b);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("job 99 refused"), std::string::npos) << s.message();
  EXPECT_TRUE((*store)->LoadJobs()->empty());
}

TEST_F(StoreTest, AnUnreadableRowIsSkippedAndTheRestLoads) {
  {
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok());
    v1::Job a = MakeJob(1, v1::PENDING), b = MakeJob(2, v1::RUNNING);
    Batch batch;
    batch.jobs = {&a, &b};
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE jobs SET record = x'ffffffff' WHERE id = 1", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id(), 2);
}

// A history of jobs across tenants, names, states and times (minutes apart), for the filters.
std::vector<v1::Job> History() {
  std::vector<v1::Job> jobs;
  const v1::JobState states[] = {v1::COMPLETED, v1::FAILED, v1::CANCELLED, v1::RUNNING, v1::PENDING};
  for (int i = 1; i <= 40; ++i) {
    v1::Job j;
    j.set_id(i);
    j.set_state(states[i % 5]);
    j.mutable_spec()->set_tenant(i % 3 == 0 ? "vision" : "llm");
    j.mutable_spec()->set_name(i % 4 == 0 ? "eval" : "pretrain");
    j.set_submit_time_ms(i * 60000);
    const bool ended = j.state() != v1::RUNNING && j.state() != v1::PENDING;
    if (ended) j.set_end_time_ms(i * 60000 + 5 * 60000);
    jobs.push_back(j);
  }
  return jobs;
}

std::vector<int64_t> Ids(const std::vector<v1::Job>& jobs) {
  std::vector<int64_t> ids;
  for (const v1::Job& j : jobs) ids.push_back(j.id());
  return ids;
}

TEST_F(StoreTest, HistoryFiltersInTheQueryMatchAPlainScan) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  const std::vector<v1::Job> all = History();
  Batch b;
  for (const v1::Job& j : all) b.jobs.push_back(&j);
  ASSERT_TRUE((*store)->Commit(b).ok());
  std::vector<JobFilter> filters(6);
  filters[1].tenant = "vision";
  filters[2].name = "eval";
  filters[2].states = {v1::COMPLETED, v1::FAILED};
  filters[3].from_ms = 20 * 60000;  // ended at or after minute 20, or still going
  filters[3].to_ms = 30 * 60000;    // submitted before minute 30
  filters[4].tenant = "llm";
  filters[4].name = "pretrain";
  filters[4].from_ms = 10 * 60000;
  filters[5].tenant = "nobody";
  for (size_t f = 0; f < filters.size(); ++f) {
    std::vector<int64_t> want;
    for (const v1::Job& j : all) {
      if (Matches(j, filters[f])) want.push_back(j.id());
    }
    auto got = (*store)->LoadJobsPage(0, 1000, filters[f]);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(Ids(*got), want) << "filter " << f;
    if (f > 0 && f < 5) EXPECT_LT(want.size(), all.size()) << "filter " << f << " filters nothing";
    if (f < 5) EXPECT_FALSE(want.empty()) << "filter " << f;
  }
  // Pages are full: the filter is applied before the limit, and paging resumes after the last id.
  auto page = (*store)->LoadJobsPage(0, 4, filters[1]);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<int64_t>{3, 6, 9, 12}));
  page = (*store)->LoadJobsPage(12, 4, filters[1]);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<int64_t>{15, 18, 21, 24}));
}

TEST_F(StoreTest, ADatabaseFromBeforeTheHistoryColumnsIsUpgraded) {
  v1::Job old = History()[2];  // job 3, tenant vision
  {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state INTEGER NOT NULL, record BLOB NOT NULL)",
                           nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* st;
    ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO jobs VALUES(3, ?, ?)", -1, &st, nullptr), SQLITE_OK);
    const std::string bytes = old.SerializeAsString();
    sqlite3_bind_int(st, 1, old.state());
    sqlite3_bind_blob(st, 2, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  JobFilter f;
  f.tenant = "vision";
  f.from_ms = old.end_time_ms();
  auto got = (*store)->LoadJobsPage(0, 10, f);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(Ids(*got), (std::vector<int64_t>{3}));
  f.tenant = "llm";
  EXPECT_TRUE((*store)->LoadJobsPage(0, 10, f)->empty());
  auto all = (*store)->LoadJobs();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].spec().name(), old.spec().name());  // the record itself is untouched
}

TEST_F(StoreTest, UnwritablePathIsAClearError) {
  auto store = Store::Open("/nonexistent-dir/x/loomd.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/nonexistent-dir/x/loomd.db"), std::string::npos);
}

TEST_F(StoreTest, MetricsBucketsAddUpAndReloadByWindow) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Batch first, second;
  first.usage = {{0, 10000, 80, 40, 20, 0, 8e13}, {10000, 10000, 80, 60, 30, 10, 8e13}};
  first.steps = {{7, 0, 0, {2, 1.5, 1.0, 0.25, 1e12}}};
  ASSERT_TRUE((*store)->Commit(first).ok());
  // A later flush of the same buckets (the open bucket written at shutdown, say) adds to them.
  second.usage = {{10000, 10000, 0, 5, 0, 0, 0}};
  second.steps = {{7, 0, 0, {1, 0.5, 0.5, 0, 5e11}}, {7, 1, 10000, {4, 4, 3, 1, 2e12}},
                  {9, 0, 10000, {1, 1, 1, 0, 1e11}}};
  ASSERT_TRUE((*store)->Commit(second).ok());

  auto usage = (*store)->LoadUsage(0, 20000);
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->size(), 2u);
  EXPECT_DOUBLE_EQ((*usage)[1].gpu_allocated_s, 65);
  EXPECT_DOUBLE_EQ((*usage)[1].gpu_fragmented_s, 10);
  EXPECT_EQ((*store)->LoadUsage(10000, 20000)->size(), 1u);

  auto steps = (*store)->LoadSteps(0, 20000, 7);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 2u);
  EXPECT_EQ((*steps)[0].totals.steps, 3);
  EXPECT_DOUBLE_EQ((*steps)[0].totals.model_flops, 1.5e12);
  EXPECT_EQ((*steps)[1].run, 1);
  EXPECT_EQ((*store)->LoadSteps(0, 20000)->size(), 3u);  // every job
  EXPECT_EQ((*store)->LoadSteps(0, 10000)->size(), 1u);
}

TEST_F(StoreTest, RollUpMergesOldBucketsAndDropsExpiredOnes) {
  auto store = Store::Open(path_);
  ASSERT_TRUE(store.ok());
  Batch batch;
  for (int64_t t = 0; t < 300; t += 10) {  // 30 fine buckets of 10 ms, 1 GPU-s each
    batch.usage.push_back({t, 10, 1, 1, 0, 0, 1e12});
    batch.steps.push_back({1, 0, t, {1, 1, 1, 0, 1e12}});
  }
  ASSERT_TRUE((*store)->Commit(batch).ok());
  // At 300: buckets before 300 - 100 = 200 merge into 100 ms buckets; before 300 - 250 = 50 go.
  RollUpPolicy policy{.fine_for_ms = 100, .coarse_ms = 100, .keep_ms = 250};
  ASSERT_TRUE((*store)->RollUp(300, policy).ok());
  auto usage = (*store)->LoadUsage(0, 1000);
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->size(), 1u + 10u);  // [100, 200) merged; [0, 100) dropped; 10 fine after 200
  EXPECT_EQ((*usage)[0].start, 100);
  EXPECT_EQ((*usage)[0].length_ms, 100);
  EXPECT_DOUBLE_EQ((*usage)[0].gpu_up_s, 10);
  EXPECT_EQ((*usage)[1].start, 200);
  auto steps = (*store)->LoadSteps(0, 1000);
  ASSERT_EQ(steps->size(), 11u);
  EXPECT_EQ((*steps)[0].totals.steps, 10);
  // Rolling up again changes nothing: merged buckets merge into themselves.
  ASSERT_TRUE((*store)->RollUp(300, policy).ok());
  EXPECT_DOUBLE_EQ((*store)->LoadUsage(0, 1000)->at(0).gpu_up_s, 10);
  EXPECT_EQ((*store)->LoadSteps(0, 1000)->size(), 11u);
}

}  // namespace
}  // namespace loom::store
