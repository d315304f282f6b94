// The Authenticator on a real TLS server, in process: who each call's caller is when one
// connection carries several callers' calls (gRPC's AuthContext is the connection's).
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>

#include "common/clock.h"
#include "common/tls/certs.h"
#include "common/tls/tls.h"
#include "loom/v1/loom.grpc.pb.h"
#include "scheduler/auth/authenticator.h"

namespace loom::auth {
namespace {

// Answers GetJob (a user's RPC) and ReportSteps (a job's) with what the authenticator says of
// the caller, and counts the connection's auth properties.
class WhoCalls final : public v1::Scheduler::CallbackService {
 public:
  explicit WhoCalls(const Authenticator* authenticator) : authenticator_(authenticator) {}

  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest*,
                                   v1::Job* reply) override {
    auto* r = ctx->DefaultReactor();
    Count(*ctx);
    auto caller = authenticator_->CallerOf(*ctx, CallerKind::kUser);
    if (!caller.ok()) {
      r->Finish({grpc::StatusCode::UNAUTHENTICATED, caller.status().message()});
      return r;
    }
    reply->mutable_spec()->set_tenant(caller->tenant);
    reply->set_reason(caller->admin ? "admin" : "user");
    r->Finish(grpc::Status::OK);
    return r;
  }

  grpc::ServerUnaryReactor* ReportSteps(grpc::CallbackServerContext* ctx, const v1::ReportStepsRequest*,
                                        v1::ReportStepsReply*) override {
    auto* r = ctx->DefaultReactor();
    Count(*ctx);
    auto caller = authenticator_->CallerOf(*ctx, CallerKind::kJob);
    last_job_ = caller.ok() ? caller->job_id : -1;
    r->Finish(caller.ok() ? grpc::Status::OK : grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no job"));
    return r;
  }

  int properties() const { return properties_; }
  int64_t last_job() const { return last_job_; }

 private:
  void Count(const grpc::CallbackServerContext& ctx) {
    int n = 0;
    auto auth = ctx.auth_context();
    for (auto it = auth->begin(); it != auth->end(); ++it) ++n;
    properties_ = n;
  }

  const Authenticator* const authenticator_;
  std::atomic<int> properties_{0};
  std::atomic<int64_t> last_job_{0};
};

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-authn-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(tls::InitCertificates(dir_, {}).ok());
    auto tokens = TokenStore::Open(dir_ + "/tokens.db");
    ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
    tokens_ = std::move(*tokens);
    auto server_security = tls::Security::Load(dir_, "loomd");
    auto client_security = tls::Security::Load(dir_, "");
    ASSERT_TRUE(server_security.ok() && client_security.ok());
    authenticator_ = std::make_shared<Authenticator>(tokens_.get(), &jobs_, &clock_);
    service_ = std::make_unique<WhoCalls>(authenticator_.get());
    auto credentials = server_security->ServerCredentials();
    credentials->SetAuthMetadataProcessor(authenticator_);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ && port > 0);
    // One channel without a token of its own: each call brings its caller's (per-call credentials).
    stub_ = v1::Scheduler::NewStub(
        client_security->Dial("127.0.0.1:" + std::to_string(port), tls::kLoomdServerName));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  std::string Token(const std::string& tenant, bool admin) {
    auto made = tokens_->Create(tenant, admin, clock_.NowMs(), 0);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.ok() ? made->second : "";
  }
  // GetJob with `token` (none when empty): the status, and the tenant and role the handler saw.
  grpc::Status GetJobAs(const std::string& token, v1::Job* seen) {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.set_credentials(grpc::AccessTokenCredentials(token));
    return stub_->GetJob(&ctx, v1::GetJobRequest(), seen);
  }

  std::string dir_;
  SystemClock clock_;
  JobCredentials jobs_ = JobCredentials::ForTesting(std::string(32, 'k'));
  std::unique_ptr<TokenStore> tokens_;
  std::shared_ptr<Authenticator> authenticator_;
  std::unique_ptr<WhoCalls> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

TEST_F(AuthenticatorTest, EachCallOnOneConnectionIsItsOwnTokensCaller) {
  const std::string admin = Token("root", true), bob = Token("bob", false);
  v1::Job seen;
  ASSERT_TRUE(GetJobAs(admin, &seen).ok());
  EXPECT_EQ(seen.spec().tenant(), "root");
  EXPECT_EQ(seen.reason(), "admin");
  // The same connection: bob is bob, not the admin who called first.
  seen.Clear();
  ASSERT_TRUE(GetJobAs(bob, &seen).ok());
  EXPECT_EQ(seen.spec().tenant(), "bob");
  EXPECT_EQ(seen.reason(), "user");
  // No token after a valid one is still no token.
  EXPECT_EQ(GetJobAs("", &seen).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(GetJobAs(bob + "0", &seen).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A job's credential on the same connection speaks for its job, and bob stays bob after it.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("loom-job-token", jobs_.Issue(7, 1));
    v1::ReportStepsReply reply;
    ASSERT_TRUE(stub_->ReportSteps(&ctx, v1::ReportStepsRequest(), &reply).ok());
    EXPECT_EQ(service_->last_job(), 7);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_credentials(grpc::AccessTokenCredentials(bob));  // a user's token is no job credential
    v1::ReportStepsReply reply;
    EXPECT_EQ(stub_->ReportSteps(&ctx, v1::ReportStepsRequest(), &reply).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  seen.Clear();
  ASSERT_TRUE(GetJobAs(bob, &seen).ok());
  EXPECT_EQ(seen.spec().tenant(), "bob");
}

TEST_F(AuthenticatorTest, CallsLeaveNothingOnTheConnection) {
  const std::string bob = Token("bob", false);
  v1::Job seen;
  ASSERT_TRUE(GetJobAs(bob, &seen).ok());
  const int first = service_->properties();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(GetJobAs(bob, &seen).ok());
  // The connection's TLS properties only: a call's identity is not recorded where later calls
  // (and every lookup) would find it.
  EXPECT_EQ(service_->properties(), first);
}

}  // namespace
}  // namespace loom::auth
