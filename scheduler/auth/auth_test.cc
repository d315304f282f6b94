#include <gtest/gtest.h>
#include <sys/stat.h>

#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/job_credential.h"
#include "scheduler/auth/token_store.h"
#include "scheduler/auth/validate.h"

namespace loom::auth {
namespace {

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-tokens-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = TokenStore::Open(dir_ + "/tokens.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<TokenStore> store_;
};

TEST_F(TokenStoreTest, CreatedTokenVerifiesAsItsTenantAndOnlyItsHashIsStored) {
  auto made = store_->Create("alice", false, 1000, 0);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const std::string token = made->second;
  auto who = store_->Verify(token, 2000);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ(who->tenant, "alice");
  EXPECT_FALSE(who->admin);
  EXPECT_EQ(who->id, made->first.id);
  // The secret part never reaches the file.
  std::ifstream in(dir_ + "/tokens.db", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(token.substr(token.rfind('_') + 1)), std::string::npos);
  EXPECT_EQ(store_->Verify(token + "0", 2000).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(store_->Verify("", 2000).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(TokenStoreTest, RevokedAndExpiredTokensAreRefused) {
  auto a = store_->Create("alice", false, 1000, 0);
  auto b = store_->Create("bob", true, 1000, 5000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(store_->Verify(a->second, 1500).ok());  // remembered now; revoking must forget it
  ASSERT_TRUE(store_->Revoke(a->first.id).ok());
  EXPECT_EQ(store_->Verify(a->second, 2000).status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(store_->Verify(b->second, 4999).ok());
  EXPECT_EQ(store_->Verify(b->second, 5000).status().code(), StatusCode::kUnauthenticated);  // remembered, still expires
  EXPECT_EQ(store_->Revoke(99).code(), StatusCode::kNotFound);
  auto list = store_->List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_TRUE(list[0].revoked);
  EXPECT_TRUE(list[1].admin);
}

TEST_F(TokenStoreTest, BadTenantChangesNothing) {
  EXPECT_EQ(store_->Create("$(id)", false, 1, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Create(std::string(65, 'a'), false, 1, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->List().empty());
}

TEST(JobCredentialsTest, OnlyTheIssuersCredentialsVerify) {
  auto mine = JobCredentials::ForTesting(std::string(32, 'k'));
  auto other = JobCredentials::ForTesting(std::string(32, 'x'));
  const std::string token = mine.Issue(7, 2);
  auto id = mine.Verify(token);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->job_id, 7);
  EXPECT_EQ(id->attempt, 2);
  EXPECT_FALSE(other.Verify(token).ok());
  EXPECT_NE(mine.Issue(7, 3), token);
  EXPECT_NE(mine.Issue(8, 2), token);
  std::string forged = token;
  forged.replace(4, 1, "8");  // job_8_2_<mac of 7/2>
  EXPECT_FALSE(mine.Verify(forged).ok());
  EXPECT_FALSE(mine.Verify("job_7_2_").ok());
  EXPECT_FALSE(mine.Verify("garbage").ok());
}

TEST(JobCredentialsTest, SecretFileIsPrivateAndKept) {
  char tmpl[] = "/tmp/loom-jobkey-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto a = JobCredentials::LoadOrCreate(dir + "/k");
  ASSERT_TRUE(a.ok());
  struct stat st {};
  ASSERT_EQ(stat((dir + "/k").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto b = JobCredentials::LoadOrCreate(dir + "/k");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->Verify(a->Issue(1, 1)).ok());
  std::filesystem::remove_all(dir);
}

TEST(RequiredCallerTest, WorkerRpcsNeedNodesStepsNeedJobsTheRestUsers) {
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/Register"), CallerKind::kNode);
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/Heartbeat"), CallerKind::kNode);
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/ReportJobExit"), CallerKind::kNode);
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/ReportSteps"), CallerKind::kJob);
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/Submit"), CallerKind::kUser);
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/Drain"), CallerKind::kUser);
  EXPECT_EQ(RequiredCaller("/loom.v1.Worker/Register"), CallerKind::kUser);  // another service's name
  EXPECT_EQ(RequiredCaller(""), CallerKind::kUser);
  EXPECT_EQ(RequiredCaller("/loom.v1.Scheduler/RegisterX"), CallerKind::kUser);
}

TEST(ValidateTest, JobSpecBoundsBeforeArithmetic) {
  v1::JobSpec ok;
  ok.set_gpus(8);
  ok.add_command("/bin/true");
  (*ok.mutable_env())["NCCL_DEBUG"] = "INFO";
  EXPECT_TRUE(ValidateJobSpec(ok).ok());
  auto refused = [&](auto change) {
    v1::JobSpec s = ok;
    change(s);
    Status st = ValidateJobSpec(s);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(st.message().find('\n'), std::string::npos);
  };
  refused([](v1::JobSpec& s) { s.set_time_limit_s(INT64_MAX / 10); });  // * 1000 would overflow
  refused([](v1::JobSpec& s) { s.set_time_limit_s(-1); });
  refused([](v1::JobSpec& s) { s.set_gpus(-3); });
  refused([](v1::JobSpec& s) { s.set_qos(-1); });
  refused([](v1::JobSpec& s) { s.set_priority(2000000000); });
  refused([](v1::JobSpec& s) { s.set_name(std::string(300, 'n')); });
  refused([](v1::JobSpec& s) { s.set_tenant("$(id)"); });
  refused([](v1::JobSpec& s) { s.add_command(std::string(70000, 'x')); });
  refused([](v1::JobSpec& s) { for (int i = 0; i < 300; ++i) (*s.mutable_env())["K" + std::to_string(i)] = "v"; });
  refused([](v1::JobSpec& s) { (*s.mutable_env())["BAD=KEY"] = "v"; });
  refused([](v1::JobSpec& s) { s.set_leaf(static_cast<v1::LeafPolicy>(99)); });
}

TEST(ValidateTest, NodesAndUtilizations) {
  v1::Node n;
  n.set_name("node-1");
  n.set_address("127.0.0.1:5000");
  n.add_gpus()->set_utilization(0.25);
  EXPECT_TRUE(ValidateNode(n).ok());
  for (double bad : std::vector<double>{std::nan(""), -0.1, 1.5, INFINITY}) {
    v1::Node m = n;
    m.mutable_gpus(0)->set_utilization(bad);
    EXPECT_EQ(ValidateNode(m).code(), StatusCode::kInvalidArgument) << bad;
  }
  v1::Node named = n;
  named.set_name("../../etc/passwd");
  EXPECT_FALSE(ValidateNode(named).ok());
  v1::Node labelled = n;
  for (int i = 0; i < 100; ++i) (*labelled.mutable_labels())["k" + std::to_string(i)] = "v";
  EXPECT_FALSE(ValidateNode(labelled).ok());
  v1::ReadLogRequest r;
  r.set_max_bytes(int64_t{1} << 40);
  EXPECT_FALSE(ValidateReadLog(r).ok());
  r.set_max_bytes(0);
  r.set_offset(-5);
  EXPECT_FALSE(ValidateReadLog(r).ok());
}

}  // namespace
}  // namespace loom::auth
