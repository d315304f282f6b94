// `loom history` against a real loomd (TLS, tokens) and its SQLite store: the filters run in
// loomd's query, a tenant sees only its own jobs, bad input is one line.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

class HistoryCommandTest : public ::testing::Test {
 protected:
  static LocalCluster::Options Small() {
    LocalCluster::Options o;
    o.workers = 1;
    o.gpus_per_worker = 2;
    return o;
  }
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()) << "cluster did not start"; }

  int64_t Finished(std::vector<std::string> args, v1::JobState want) {
    auto id = cluster_.Submit(args);
    EXPECT_TRUE(id.ok()) << id.status().message();
    if (!id.ok()) return 0;
    auto job = cluster_.WaitForState(*id, want);
    EXPECT_TRUE(job.ok()) << job.status().message();
    return *id;
  }
  // The JOBID column of a history table, header left out.
  static std::vector<int64_t> Ids(const std::string& table) {
    std::vector<int64_t> ids;
    std::istringstream in(table);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("JOBID", 0), 0u) << table;
    while (std::getline(in, line)) ids.push_back(std::stoll(line));
    return ids;
  }
  CommandResult AsToken(const std::string& token, const std::vector<std::string>& args) {
    setenv("LOOM_TOKEN", token.c_str(), 1);
    CommandResult r = cluster_.Loom(args);
    unsetenv("LOOM_TOKEN");
    return r;
  }

  LocalCluster cluster_{Small()};
};

TEST_F(HistoryCommandTest, FiltersByTenantStateNameAndTime) {
  const int64_t a = Finished({"--tenant", "llm", "--name", "pretrain", "--", "/bin/true"}, v1::COMPLETED);
  const int64_t b = Finished({"--tenant", "llm", "--name", "eval", "--", "/bin/sh", "-c", "exit 3"}, v1::FAILED);
  const int64_t c = Finished({"--tenant", "vision", "--name", "pretrain", "--gpus", "2", "--", "/bin/true"}, v1::COMPLETED);
  ASSERT_TRUE(a && b && c);

  CommandResult all = cluster_.Loom({"history"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(Ids(all.out), (std::vector<int64_t>{a, b, c}));
  for (const char* column : {"GPU-HOURS", "ELAPSED", "EXIT", "ATTEMPTS", "MFU"}) {
    EXPECT_NE(all.out.find(column), std::string::npos) << column;
  }
  EXPECT_EQ(Ids(cluster_.Loom({"history", "--tenant", "llm"}).out), (std::vector<int64_t>{a, b}));
  EXPECT_EQ(Ids(cluster_.Loom({"history", "--name", "pretrain", "--tenant", "vision"}).out), (std::vector<int64_t>{c}));
  CommandResult failed = cluster_.Loom({"history", "--state", "FAILED"});
  EXPECT_EQ(Ids(failed.out), (std::vector<int64_t>{b}));
  EXPECT_NE(failed.out.find("FAILED"), std::string::npos);
  EXPECT_EQ(Ids(cluster_.Loom({"history", "--until", "1d"}).out), std::vector<int64_t>{});  // all are newer
  EXPECT_EQ(Ids(cluster_.Loom({"history", "--limit", "2"}).out), (std::vector<int64_t>{a, b}));

  CommandResult json = cluster_.Loom({"history", "--json", "--tenant", "llm"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json rows = nlohmann::json::parse(json.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["id"], b);
  EXPECT_EQ(rows[1]["exit_code"], 3);
  EXPECT_EQ(rows[1]["attempts"], 1);
  EXPECT_EQ(rows[1]["gpus"], 1);

  CommandResult bad = cluster_.Loom({"history", "--since", "yesterdayish"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("invalid time 'yesterdayish'"), std::string::npos) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_EQ(bad.out, "");
}

TEST_F(HistoryCommandTest, ATenantSeesOnlyItsOwnHistory) {
  const int64_t theirs = Finished({"--tenant", "llm", "--", "/bin/true"}, v1::COMPLETED);
  const std::string alice = cluster_.CreateToken("alice");
  setenv("LOOM_TOKEN", alice.c_str(), 1);
  auto mine = cluster_.Submit({"--", "/bin/true"});
  unsetenv("LOOM_TOKEN");
  ASSERT_TRUE(mine.ok()) << mine.status().message();
  ASSERT_TRUE(cluster_.WaitForState(*mine, v1::COMPLETED).ok());

  CommandResult own = AsToken(alice, {"history"});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_EQ(Ids(own.out), (std::vector<int64_t>{*mine}));
  CommandResult other = AsToken(alice, {"history", "--tenant", "llm"});
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("may list only its own jobs"), std::string::npos) << other.err;
  EXPECT_EQ(Ids(cluster_.Loom({"history"}).out), (std::vector<int64_t>{theirs, *mine}));  // the admin sees both
}

}  // namespace
}  // namespace loom::testing
