// Security, tried as an attacker would over loopback: no credentials, plaintext, another tenant's
// token, another node's certificate, revoked and expired tokens, forged and stale job credentials.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/process.h"
#include "common/tls/tls.h"
#include "scheduler/auth/validate.h"
#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

using Stub = std::unique_ptr<v1::Scheduler::Stub>;

grpc::StatusCode Code(const grpc::Status& s) { return s.error_code(); }

// One call of a sync stub method, whatever its request and reply types.
template <typename Req, typename Reply>
grpc::Status Call(v1::Scheduler::Stub& stub,
                  grpc::Status (v1::Scheduler::Stub::*method)(grpc::ClientContext*, const Req&, Reply*),
                  const Req& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  Reply reply;
  return (stub.*method)(&ctx, req, &reply);
}

v1::SubmitRequest SleepJob(const std::string& dir, int gpus = 1, const std::string& tenant = "") {
  v1::SubmitRequest req;
  v1::JobSpec& spec = *req.mutable_spec();
  spec.set_gpus(gpus);
  spec.set_tenant(tenant);
  spec.set_workdir(dir);
  spec.set_time_limit_s(300);
  for (const char* a : {"/bin/sh", "-c", "echo \"$LOOM_JOB_TOKEN\" > token.$RANK; echo secret-output; sleep 60"}) {
    spec.add_command(a);
  }
  (*spec.mutable_env())["API_KEY"] = "hunter2";
  return req;
}

StatusOr<int64_t> SubmitAs(v1::Scheduler::Stub& stub, const v1::SubmitRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SubmitReply reply;
  grpc::Status s = stub.Submit(&ctx, req, &reply);
  if (!s.ok()) return Internal(s.error_message());
  return reply.job_id();
}

std::unique_ptr<v1::Worker::Stub> WorkerStub(const std::string& address, const std::string& certs,
                                             const std::string& stem, const std::string& node) {
  auto security = tls::Security::Load(certs, stem);
  EXPECT_TRUE(security.ok()) << security.status().ToString();
  return v1::Worker::NewStub(security->Dial(address, tls::NodeServerName(node)));
}

// Runs Exec on a worker; the RPC's status, and the exit code if it ran.
grpc::Status Exec(v1::Worker::Stub& worker, int64_t job, const std::string& token, int* exit_code) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::ExecRequest req;
  req.set_job_id(job);
  req.set_job_token(token);
  req.add_argv("true");
  auto reader = worker.Exec(&ctx, req);
  v1::ExecChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.exited()) *exit_code = chunk.exit_code();
  }
  return reader->Finish();
}

std::string FirstLine(const std::string& path) {
  std::string s = ReadFile(path);
  return s.substr(0, s.find('\n'));
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()) << "cluster did not start"; }
  Stub As(const std::string& token, const std::string& cert = "") {
    return SchedulerStub(cluster_.address(), cluster_.certs_dir(), cert, token);
  }
  std::string WorkerAddress(const std::string& node) {
    grpc::ClientContext ctx;
    v1::ListNodesReply nodes;
    EXPECT_TRUE(cluster_.stub().ListNodes(&ctx, v1::ListNodesRequest(), &nodes).ok());
    for (const auto& n : nodes.nodes()) {
      if (n.name() == node) return n.address();
    }
    return "";
  }
  LocalCluster cluster_;
};

TEST_F(SecurityTest, NoCredentialsIsUnauthenticatedOnEveryRpcOfBothServices) {
  Stub anon = As("");
  using S = v1::Scheduler::Stub;
  const std::string dir = cluster_.MakeDir("anon");
  const std::string marker = dir + "/launched";
  v1::SubmitRequest submit = SleepJob(dir);
  v1::RegisterRequest reg;
  reg.mutable_node()->set_name("node-1");
  reg.mutable_node()->set_address("127.0.0.1:1");
  v1::HeartbeatRequest hb;
  hb.set_node("node-1");
  v1::ReportJobExitRequest exit;
  exit.set_node("node-1");
  exit.set_job_id(1);
  const std::vector<std::pair<std::string, grpc::Status>> calls = {
      {"Submit", Call<v1::SubmitRequest, v1::SubmitReply>(*anon, &S::Submit, submit)},
      {"GetJob", Call<v1::GetJobRequest, v1::Job>(*anon, &S::GetJob, v1::GetJobRequest())},
      {"ListJobs", Call<v1::ListJobsRequest, v1::ListJobsReply>(*anon, &S::ListJobs, v1::ListJobsRequest())},
      {"Cancel", Call<v1::CancelRequest, v1::Job>(*anon, &S::Cancel, v1::CancelRequest())},
      {"ListNodes", Call<v1::ListNodesRequest, v1::ListNodesReply>(*anon, &S::ListNodes, v1::ListNodesRequest())},
      {"ReadLog", Call<v1::ReadLogRequest, v1::ReadLogReply>(*anon, &S::ReadLog, v1::ReadLogRequest())},
      {"GetStats", Call<v1::GetStatsRequest, v1::Stats>(*anon, &S::GetStats, v1::GetStatsRequest())},
      {"Drain", Call<v1::DrainRequest, v1::DrainReply>(*anon, &S::Drain, v1::DrainRequest())},
      {"Resume", Call<v1::ResumeRequest, v1::ResumeReply>(*anon, &S::Resume, v1::ResumeRequest())},
      {"ReportSteps", Call<v1::ReportStepsRequest, v1::ReportStepsReply>(*anon, &S::ReportSteps, v1::ReportStepsRequest())},
      {"Register", Call<v1::RegisterRequest, v1::RegisterReply>(*anon, &S::Register, reg)},
      {"Heartbeat", Call<v1::HeartbeatRequest, v1::HeartbeatReply>(*anon, &S::Heartbeat, hb)},
      {"ReportJobExit", Call<v1::ReportJobExitRequest, v1::ReportJobExitReply>(*anon, &S::ReportJobExit, exit)},
      {"CreateToken", Call<v1::CreateTokenRequest, v1::CreateTokenReply>(*anon, &S::CreateToken, v1::CreateTokenRequest())},
      {"ListTokens", Call<v1::ListTokensRequest, v1::ListTokensReply>(*anon, &S::ListTokens, v1::ListTokensRequest())},
      {"RevokeToken", Call<v1::RevokeTokenRequest, v1::RevokeTokenReply>(*anon, &S::RevokeToken, v1::RevokeTokenRequest())},
  };
  for (const auto& [name, status] : calls) EXPECT_EQ(Code(status), grpc::UNAUTHENTICATED) << name << ": " << status.error_message();

  // The worker: no client certificate, no job credential.
  auto worker = WorkerStub(WorkerAddress("node-1"), cluster_.certs_dir(), "", "node-1");
  v1::LaunchRequest launch;
  v1::Job& job = *launch.mutable_job();
  job.set_id(999);
  for (const char* a : {"/bin/sh", "-c", "touch launched"}) job.mutable_spec()->add_command(a);
  job.mutable_spec()->set_workdir(dir);
  auto* alloc = job.add_allocation();
  alloc->set_node("node-1");
  alloc->add_gpu_indices(0);
  launch.add_nodes()->set_name("node-1");
  {
    grpc::ClientContext ctx;
    v1::LaunchReply r;
    EXPECT_EQ(Code(worker->Launch(&ctx, launch, &r)), grpc::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    v1::KillReply r;
    EXPECT_EQ(Code(worker->Kill(&ctx, v1::KillRequest(), &r)), grpc::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    v1::ReadLogReply r;
    EXPECT_EQ(Code(worker->ReadLog(&ctx, v1::ReadLogRequest(), &r)), grpc::UNAUTHENTICATED);
  }
  int code = -1;
  EXPECT_EQ(Code(Exec(*worker, 999, "", &code)), grpc::UNAUTHENTICATED);
  // A node's certificate is not loomd's either.
  auto as_node = WorkerStub(WorkerAddress("node-1"), cluster_.certs_dir(), "node-node-2", "node-1");
  {
    grpc::ClientContext ctx;
    v1::LaunchReply r;
    EXPECT_EQ(Code(as_node->Launch(&ctx, launch, &r)), grpc::PERMISSION_DENIED);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a launched rank would have touched it by now
  EXPECT_FALSE(std::filesystem::exists(marker));
  v1::ListJobsReply jobs;
  grpc::ClientContext ctx;
  ASSERT_TRUE(cluster_.stub().ListJobs(&ctx, v1::ListJobsRequest(), &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
}

TEST_F(SecurityTest, PlaintextClientAgainstTlsLoomdFails) {
  auto plain = SchedulerStub(cluster_.address(), "", "");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ListNodesReply reply;
  grpc::Status s = plain->ListNodes(&ctx, v1::ListNodesRequest(), &reply);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(reply.nodes_size(), 0);
}

TEST_F(SecurityTest, TenantsTouchOnlyTheirOwnJobs) {
  Stub alice = As(cluster_.CreateToken("alice"));
  Stub bob = As(cluster_.CreateToken("bob"));
  const std::string dir = cluster_.MakeDir("alice");
  auto id = SubmitAs(*alice, SleepJob(dir));
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ(job->spec().tenant(), "alice");  // the token's tenant, not the client's word
  ASSERT_TRUE(WaitForFile(dir + "/token.0"));

  v1::CancelRequest cancel;
  cancel.set_job_id(*id);
  EXPECT_EQ(Code((Call<v1::CancelRequest, v1::Job>(*bob, &v1::Scheduler::Stub::Cancel, cancel))), grpc::PERMISSION_DENIED);
  v1::GetJobRequest get;
  get.set_job_id(*id);
  {
    grpc::ClientContext ctx;
    v1::Job seen;
    EXPECT_EQ(Code(bob->GetJob(&ctx, get, &seen)), grpc::PERMISSION_DENIED);
    EXPECT_EQ(seen.spec().env_size(), 0);  // nothing of alice's environment
  }
  v1::ReadLogRequest log;
  log.set_job_id(*id);
  {
    grpc::ClientContext ctx;
    v1::ReadLogReply out;
    EXPECT_EQ(Code(bob->ReadLog(&ctx, log, &out)), grpc::PERMISSION_DENIED);
    EXPECT_TRUE(out.data().empty());
  }
  {
    grpc::ClientContext ctx;
    v1::ListJobsReply list;
    ASSERT_TRUE(bob->ListJobs(&ctx, v1::ListJobsRequest(), &list).ok());
    EXPECT_EQ(list.jobs_size(), 0);
  }
  // Bob may not charge alice either.
  auto as_alice = SubmitAs(*bob, SleepJob(cluster_.MakeDir("bob"), 1, "alice"));
  EXPECT_FALSE(as_alice.ok());
  EXPECT_NE(as_alice.status().message().find("may not submit as tenant alice"), std::string::npos);

  // Alice's job runs on; alice herself can read and cancel it.
  auto still = cluster_.GetJob(*id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->state(), v1::RUNNING);
  {
    grpc::ClientContext ctx;
    v1::ReadLogReply out;
    ASSERT_TRUE(alice->ReadLog(&ctx, log, &out).ok());
    EXPECT_NE(out.data().find("secret-output"), std::string::npos);
  }
  EXPECT_TRUE((Call<v1::CancelRequest, v1::Job>(*alice, &v1::Scheduler::Stub::Cancel, cancel)).ok());
}

TEST_F(SecurityTest, RevokedAndExpiredTokensAreRefused) {
  const std::string token = cluster_.CreateToken("carol");
  Stub carol = As(token);
  ASSERT_TRUE((Call<v1::ListJobsRequest, v1::ListJobsReply>(*carol, &v1::Scheduler::Stub::ListJobs, v1::ListJobsRequest())).ok());
  // Only an admin may revoke; carol's own token is not one.
  v1::ListTokensReply tokens;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(Code(carol->ListTokens(&ctx, v1::ListTokensRequest(), &tokens)), grpc::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(cluster_.stub().ListTokens(&ctx, v1::ListTokensRequest(), &tokens).ok());
  }
  v1::RevokeTokenRequest revoke;
  for (const auto& t : tokens.tokens()) {
    if (t.tenant() == "carol") revoke.set_id(t.id());
  }
  ASSERT_GT(revoke.id(), 0);
  ASSERT_TRUE((Call<v1::RevokeTokenRequest, v1::RevokeTokenReply>(cluster_.stub(), &v1::Scheduler::Stub::RevokeToken, revoke)).ok());
  Stub revoked = As(token);  // a fresh channel: nothing cached on either side
  EXPECT_EQ(Code(Call<v1::ListJobsRequest, v1::ListJobsReply>(*revoked, &v1::Scheduler::Stub::ListJobs, v1::ListJobsRequest())),
            grpc::UNAUTHENTICATED);

  Stub expired = As(cluster_.CreateToken("dave", false, SystemClock().NowMs() - 1000));
  EXPECT_EQ(Code(Call<v1::ListJobsRequest, v1::ListJobsReply>(*expired, &v1::Scheduler::Stub::ListJobs, v1::ListJobsRequest())),
            grpc::UNAUTHENTICATED);
}

TEST_F(SecurityTest, NodeCertificateSpeaksOnlyForItsNode) {
  const std::string dir = cluster_.MakeDir("victim");
  auto id = SubmitAs(cluster_.stub(), SleepJob(dir, 4));
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::RUNNING);
  ASSERT_TRUE(job.ok()) << job.status().message();
  const std::string victim = job->allocation(0).node();
  const std::string attacker = victim == "node-1" ? "node-2" : "node-1";
  Stub as_attacker = As("", "node-" + attacker);

  v1::ReportJobExitRequest exit;
  exit.set_node(victim);
  exit.set_job_id(*id);
  exit.set_exit_code(0);
  EXPECT_EQ(Code(Call<v1::ReportJobExitRequest, v1::ReportJobExitReply>(*as_attacker, &v1::Scheduler::Stub::ReportJobExit, exit)),
            grpc::PERMISSION_DENIED);
  v1::HeartbeatRequest hb;
  hb.set_node(victim);
  EXPECT_EQ(Code(Call<v1::HeartbeatRequest, v1::HeartbeatReply>(*as_attacker, &v1::Scheduler::Stub::Heartbeat, hb)),
            grpc::PERMISSION_DENIED);
  // Speaking as itself about a job it does not run changes nothing either.
  exit.set_node(attacker);
  EXPECT_TRUE((Call<v1::ReportJobExitRequest, v1::ReportJobExitReply>(*as_attacker, &v1::Scheduler::Stub::ReportJobExit, exit)).ok());
  // Hostile names are refused before anything is registered.
  for (const std::string name : {std::string("$(id)"), std::string("../../etc/passwd"), std::string(100000, 'a')}) {
    v1::RegisterRequest reg;
    reg.mutable_node()->set_name(name);
    reg.mutable_node()->set_address("127.0.0.1:1");
    EXPECT_EQ(Code(Call<v1::RegisterRequest, v1::RegisterReply>(*as_attacker, &v1::Scheduler::Stub::Register, reg)),
              grpc::INVALID_ARGUMENT);
  }
  auto still = cluster_.GetJob(*id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->state(), v1::RUNNING);
  EXPECT_EQ(still->exited_nodes_size(), 0);
  grpc::ClientContext ctx;
  v1::ListNodesReply nodes;
  ASSERT_TRUE(cluster_.stub().ListNodes(&ctx, v1::ListNodesRequest(), &nodes).ok());
  EXPECT_EQ(nodes.nodes_size(), 3);
}

TEST_F(SecurityTest, ExecNeedsTheRunningAttemptsCredential) {
  const std::string dir_a = cluster_.MakeDir("a"), dir_b = cluster_.MakeDir("b");
  auto a = SubmitAs(cluster_.stub(), SleepJob(dir_a));
  auto b = SubmitAs(cluster_.stub(), SleepJob(dir_b));
  ASSERT_TRUE(a.ok() && b.ok());
  auto job_a = cluster_.WaitForState(*a, v1::RUNNING);
  auto job_b = cluster_.WaitForState(*b, v1::RUNNING);
  ASSERT_TRUE(job_a.ok() && job_b.ok());
  ASSERT_TRUE(WaitForFile(dir_a + "/token.0") && WaitForFile(dir_b + "/token.0"));
  const std::string token_a = FirstLine(dir_a + "/token.0");
  ASSERT_EQ(token_a.rfind("job_", 0), 0u) << token_a;
  const std::string node = job_a->allocation(0).node();
  auto worker = WorkerStub(WorkerAddress(node), cluster_.certs_dir(), "", node);

  int code = -1;
  grpc::Status own = Exec(*worker, *a, token_a, &code);
  EXPECT_TRUE(own.ok()) << own.error_message();
  EXPECT_EQ(code, 0);
  const std::string node_b = job_b->allocation(0).node();
  auto worker_b = WorkerStub(WorkerAddress(node_b), cluster_.certs_dir(), "", node_b);
  EXPECT_EQ(Code(Exec(*worker_b, *b, token_a, &code)), grpc::PERMISSION_DENIED);  // another job's credential
  EXPECT_EQ(Code(Exec(*worker, *a, token_a + "0", &code)), grpc::PERMISSION_DENIED);  // forged

  v1::CancelRequest cancel;
  cancel.set_job_id(*a);
  ASSERT_TRUE((Call<v1::CancelRequest, v1::Job>(cluster_.stub(), &v1::Scheduler::Stub::Cancel, cancel)).ok());
  ASSERT_TRUE(cluster_.WaitForState(*a, v1::CANCELLED).ok());
  // The attempt has ended: its credential opens nothing, though it was genuine.
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {  // the worker drops the job once its ranks are gone
    refused = Code(Exec(*worker, *a, token_a, &code)) == grpc::PERMISSION_DENIED;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(refused);
}

// A bounded gRPC-level fuzz: mutated messages on every RPC, with the admin's token and without
// any. Unauthenticated calls never succeed; loomd stays up, keeps its three nodes and accepts
// only jobs within its bounds.
TEST_F(SecurityTest, MutatedMessagesOnEveryRpcChangeNothingInvalid) {
  std::mt19937 rng(20261201);
  auto mutate = [&](std::string bytes) {
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0: if (!bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng()); break;
        case 1: bytes.resize(bytes.empty() ? 0 : rng() % bytes.size()); break;
        case 2: for (int i = 0; i < 8; ++i) bytes += static_cast<char>(rng()); break;
      }
    }
    return bytes;
  };
  v1::SubmitRequest submit = SleepJob(cluster_.MakeDir("fuzz"));
  submit.mutable_spec()->set_time_limit_s(5);
  v1::RegisterRequest reg;
  reg.mutable_node()->set_name("node-9");
  reg.mutable_node()->set_address("127.0.0.1:1");
  reg.mutable_node()->add_gpus()->set_utilization(0.5);
  v1::HeartbeatRequest hb;
  hb.set_node("node-1");
  hb.add_gpus()->set_utilization(0.5);
  v1::ReadLogRequest log;
  log.set_job_id(1);
  log.set_max_bytes(100);
  v1::ReportJobExitRequest exit;
  exit.set_node("node-1");
  exit.set_job_id(1);
  v1::ReportStepsRequest steps;
  steps.set_job_id(1);
  steps.add_steps()->set_step_s(1);
  Stub anon = As("");
  Stub root = As(cluster_.admin_token());
  using S = v1::Scheduler::Stub;
  int sent = 0, accepted_unauthenticated = 0;
  for (int i = 0; i < 400; ++i) {
    const bool authenticated = rng() % 2 == 0;
    S& stub = authenticated ? *root : *anon;
    grpc::Status status;
    auto send = [&](const auto& seed, auto method) {
      std::decay_t<decltype(seed)> req;
      if (!req.ParseFromString(mutate(seed.SerializeAsString()))) req = seed;
      status = Call(stub, method, req);
    };
    switch (rng() % 8) {
      case 0: send(submit, &S::Submit); break;
      case 1: send(reg, &S::Register); break;
      case 2: send(hb, &S::Heartbeat); break;
      case 3: send(log, &S::ReadLog); break;
      case 4: send(exit, &S::ReportJobExit); break;
      case 5: send(steps, &S::ReportSteps); break;
      case 6: send(v1::GetStatsRequest(), &S::GetStats); break;
      case 7: send(v1::CancelRequest(), &S::Cancel); break;
    }
    ++sent;
    if (!authenticated && status.ok()) ++accepted_unauthenticated;
  }
  EXPECT_EQ(sent, 400);
  EXPECT_EQ(accepted_unauthenticated, 0);
  grpc::ClientContext ctx;
  v1::ListNodesReply nodes;
  ASSERT_TRUE(cluster_.stub().ListNodes(&ctx, v1::ListNodesRequest(), &nodes).ok()) << "loomd went down";
  EXPECT_EQ(nodes.nodes_size(), 3);
  grpc::ClientContext jobs_ctx;
  v1::ListJobsReply jobs;
  ASSERT_TRUE(cluster_.stub().ListJobs(&jobs_ctx, v1::ListJobsRequest(), &jobs).ok());
  for (const v1::Job& j : jobs.jobs()) EXPECT_TRUE(auth::ValidateJobSpec(j.spec()).ok()) << j.id();
}

TEST_F(SecurityTest, TokenCommandsAndTheHeadNodesRootOfTrust) {
  // loomd token create: straight into loomd's token file, usable at once.
  const std::string cmd = std::string(LOOM_BIN_DIR) + "/loomd token create --home " + cluster_.home() +
                          " --tenant frank 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  std::string out;
  while (fgets(buf, sizeof(buf), p)) out += buf;
  ASSERT_EQ(pclose(p), 0) << out;
  Stub frank = As(out.substr(0, out.find('\n')));
  EXPECT_TRUE((Call(*frank, &v1::Scheduler::Stub::ListJobs, v1::ListJobsRequest())).ok());

  // loom token create / list / revoke through loomd, as loom up's admin.
  CommandResult made = cluster_.Loom({"token", "create", "--tenant", "grace", "--expires", "1d"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_EQ(made.out.rfind("loom_", 0), 0u) << made.out;
  CommandResult list = cluster_.Loom({"token", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("grace"), std::string::npos) << list.out;
  const std::string id = made.err.substr(made.err.find("Token ") + 6, made.err.find(" for") - made.err.find("Token ") - 6);
  CommandResult revoked = cluster_.Loom({"token", "revoke", id});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  Stub grace = As(made.out.substr(0, made.out.find('\n')));
  EXPECT_EQ(Code(Call(*grace, &v1::Scheduler::Stub::ListJobs, v1::ListJobsRequest())), grpc::UNAUTHENTICATED);
  CommandResult bad = cluster_.Loom({"token", "create", "--tenant", "a b"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

TEST(SecurityPolicyTest, QosAndPriorityAboveTheTenantsCapAreRefused) {
  char tmpl[] = "/tmp/loom-caps-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string config = dir + "/caps.yaml";
  std::ofstream(config) << "limits: {max_qos: 0}\ntenants:\n  prod: {max_qos: 3, max_priority: 10, max_pending_jobs: 1}\n";
  LocalCluster::Options options;
  options.workers = 1;
  options.policy_config = config;
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  auto prod = SchedulerStub(cluster.address(), cluster.certs_dir(), "", cluster.CreateToken("prod"));
  auto eve = SchedulerStub(cluster.address(), cluster.certs_dir(), "", cluster.CreateToken("eve"));
  v1::SubmitRequest req = SleepJob(cluster.MakeDir("caps"));
  req.mutable_spec()->set_gpus(4);  // the whole node: a second one waits
  req.mutable_spec()->set_qos(4);
  auto refused = SubmitAs(*prod, req);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("QoS up to 3"), std::string::npos) << refused.status().message();
  req.mutable_spec()->set_qos(3);
  req.mutable_spec()->set_priority(11);
  EXPECT_FALSE(SubmitAs(*prod, req).ok());
  req.mutable_spec()->set_priority(10);
  auto running = SubmitAs(*prod, req);
  ASSERT_TRUE(running.ok()) << running.status().message();
  ASSERT_TRUE(cluster.WaitForState(*running, v1::RUNNING).ok());
  auto pending = SubmitAs(*prod, req);
  EXPECT_TRUE(pending.ok()) << pending.status().message();
  auto full = SubmitAs(*prod, req);  // one pending job is prod's cap
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("pending jobs"), std::string::npos) << full.status().message();
  req.mutable_spec()->set_qos(1);
  EXPECT_FALSE(SubmitAs(*eve, req).ok());  // the default cap for unlisted tenants
  v1::ListJobsReply jobs;
  grpc::ClientContext ctx;
  ASSERT_TRUE(cluster.stub().ListJobs(&ctx, v1::ListJobsRequest(), &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 2);  // only those within the caps
  std::filesystem::remove_all(dir);
}

TEST(SecurityAccountTest, RootWorkersRankRunsAsTheMappedAccountWithoutTheWorkersSecrets) {
  passwd* nobody = getpwnam("nobody");
  if (geteuid() != 0 || nobody == nullptr) GTEST_SKIP() << "needs root and a 'nobody' account";
  setenv("LOOM_TOKEN", "worker-secret-token", 1);  // the worker inherits it; ranks must not
  LocalCluster::Options options;
  options.workers = 1;
  options.worker_args = {"--run-as", "alice=nobody"};
  options.allow_root_ranks = false;
  LocalCluster cluster(options);
  unsetenv("LOOM_TOKEN");
  ASSERT_TRUE(cluster.Start().ok());
  char tmpl[] = "/tmp/loom-rank-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  chmod(dir.c_str(), 0777);
  auto alice = SchedulerStub(cluster.address(), cluster.certs_dir(), "", cluster.CreateToken("alice"));
  v1::SubmitRequest req;
  req.mutable_spec()->set_gpus(1);
  req.mutable_spec()->set_workdir(dir);
  const std::string key = cluster.certs_dir() + "/node-node-1.key";
  for (const std::string a : {std::string("/bin/sh"), std::string("-c"),
                              "id -u > uid; env > env.txt; cat " + key + " > key 2>/dev/null; echo $? > keyread"}) {
    req.mutable_spec()->add_command(a);
  }
  auto id = SubmitAs(*alice, req);
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::COMPLETED);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ(FirstLine(dir + "/uid"), std::to_string(nobody->pw_uid));
  EXPECT_NE(FirstLine(dir + "/keyread"), "0");  // the node's private key stays the worker's
  EXPECT_EQ(ReadFile(dir + "/key"), "");
  const std::string env = ReadFile(dir + "/env.txt");
  EXPECT_EQ(env.find("worker-secret-token"), std::string::npos);
  EXPECT_NE(env.find("LOOM_JOB_ID=" + std::to_string(*id)), std::string::npos);
  EXPECT_NE(env.find("USER=nobody"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(SecurityAccountTest, RootWorkerWithoutAnAccountMapRunsNoRanks) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (a worker not running as root runs ranks as itself)";
  LocalCluster::Options options;
  options.workers = 1;
  options.allow_root_ranks = false;
  LocalCluster cluster(options);
  ASSERT_TRUE(cluster.Start().ok());
  char tmpl[] = "/tmp/loom-rootless-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  v1::SubmitRequest req;
  req.mutable_spec()->set_gpus(1);
  req.mutable_spec()->set_workdir(dir);
  req.mutable_spec()->set_no_requeue(true);
  for (const char* a : {"/bin/sh", "-c", "touch ran"}) req.mutable_spec()->add_command(a);
  auto id = SubmitAs(cluster.stub(), req);
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster.WaitForState(*id, v1::NODE_FAIL);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_NE(job->reason().find("maps no tenant to a Unix account"), std::string::npos) << job->reason();
  EXPECT_FALSE(std::filesystem::exists(dir + "/ran"));
  std::filesystem::remove_all(dir);
}

TEST(SecurityFlagsTest, PlaintextIsRefusedOffLoopback) {
  for (const char* binary : {"/loomd", "/loom-worker"}) {
    SpawnSpec spec;
    spec.argv = {std::string(LOOM_BIN_DIR) + binary, "--insecure", "--listen", "0.0.0.0:0", "--home", "/nonexistent-loom"};
    spec.env = CurrentEnvironment();
    char tmpl[] = "/tmp/loom-flags-XXXXXX";
    const std::string out = std::string(mkdtemp(tmpl)) + "/err";
    spec.stdout_path = out;
    spec.stderr_path = out;
    auto pid = Spawn(spec);
    ASSERT_TRUE(pid.ok());
    int status = 0;
    waitpid(*pid, &status, 0);
    EXPECT_EQ(ExitCode(status), 1) << binary;
    const std::string err = ReadFile(out);
    EXPECT_NE(err.find("only on a loopback address"), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_FALSE(std::filesystem::exists("/nonexistent-loom"));
    std::filesystem::remove_all(std::filesystem::path(out).parent_path());
  }
}

}  // namespace
}  // namespace loom::testing
