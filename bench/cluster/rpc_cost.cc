// loom-bench rpc: the cost of security on one small RPC, taken apart in one process. A GetJob
// answered inline by a stub service (no control plane, no thread hop), over loopback, in four
// set-ups that add one layer each:
//   plaintext     what `--insecure` pays
//   tls           TLS as loomd serves it (client certificate requested), no token
//   tls+token     a bearer token on every call, accepted by a processor that only sees it is there
//   tls+auth      loomd's Authenticator: the token hashed and looked up in its TokenStore, before
//                 the handler and again in it (Authenticator::CallerOf), as loomd's handlers do
// Rounds alternate the set-ups so drift on a shared machine falls on all of them alike. The
// token store's Verify alone is also timed, to put a number on the lookup itself.
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/cluster/percentile.h"
#include "common/clock.h"
#include "common/tls/certs.h"
#include "common/tls/tls.h"
#include "loom/v1/loom.grpc.pb.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/job_credential.h"
#include "scheduler/auth/token_store.h"

namespace loom::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// GetJob answered on gRPC's own thread with a row the size of a finished bench job. With an
// authenticator, it asks who called, as loomd's handlers do.
class GetJobOnly final : public v1::Scheduler::CallbackService {
 public:
  GetJobOnly(v1::Job job, const auth::Authenticator* authenticator)
      : job_(std::move(job)), authenticator_(authenticator) {}
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx, const v1::GetJobRequest*,
                                   v1::Job* reply) override {
    auto* r = ctx->DefaultReactor();
    if (authenticator_) {
      if (auto caller = authenticator_->CallerOf(*ctx, auth::CallerKind::kUser); !caller.ok()) {
        r->Finish({grpc::StatusCode::UNAUTHENTICATED, caller.status().message()});
        return r;
      }
    }
    *reply = job_;
    r->Finish(grpc::Status::OK);
    return r;
  }

 private:
  const v1::Job job_;
  const auth::Authenticator* const authenticator_;
};

// Accepts any bearer token without looking at it: the processor's own cost, apart from the lookup.
class TokenPresent final : public grpc::AuthMetadataProcessor {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& md, grpc::AuthContext*, OutputMetadata*, OutputMetadata*) override {
    if (md.find("authorization") == md.end()) return {grpc::StatusCode::UNAUTHENTICATED, "no token"};
    return grpc::Status::OK;
  }
};

struct Setup {
  std::string name;
  std::unique_ptr<GetJobOnly> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::Scheduler::Stub> stub;
  std::vector<double> us;
};

v1::Job BenchJob() {
  v1::Job job;
  job.set_id(20);
  job.set_state(v1::COMPLETED);
  job.mutable_spec()->set_name("bench");
  job.mutable_spec()->set_gpus(1);
  job.mutable_spec()->add_command("/bin/true");
  job.mutable_spec()->set_tenant("bench");
  job.set_submit_time_ms(1);
  job.set_start_time_ms(2);
  job.set_end_time_ms(3);
  auto* a = job.add_allocation();
  a->set_node("n1");
  a->add_gpu_indices(0);
  return job;
}

}  // namespace

int RunRpc(int argc, char** argv) {
  int calls = 2000, rounds = 5;
  std::string only;  // one set-up alone, for a profiler
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--calls" && i + 1 < argc) {
      calls = std::atoi(argv[++i]);
    } else if (k == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (k == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (k == "-h" || k == "--help") {
      std::printf("usage: loom-bench rpc [--calls N] [--rounds N] [--only plaintext|tls|tls+token|tls+auth]\n");
      return 0;
    } else {
      std::fprintf(stderr, "loom-bench rpc: unknown option '%s' (see --help)\n", k.c_str());
      return 2;
    }
  }
  if (calls < 1 || rounds < 1) {
    std::fprintf(stderr, "loom-bench rpc: --calls and --rounds must be at least 1\n");
    return 2;
  }
  char tmpl[] = "/tmp/loom-bench-rpc-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  if (Status s = tls::InitCertificates(dir, {}); !s.ok()) {
    std::fprintf(stderr, "loom-bench rpc: %s\n", s.message().c_str());
    return 1;
  }
  auto server_security = tls::Security::Load(dir, "loomd");
  auto client_security = tls::Security::Load(dir, "");
  auto tokens = auth::TokenStore::Open(dir + "/tokens.db");
  if (!server_security.ok() || !client_security.ok() || !tokens.ok()) {
    std::fprintf(stderr, "loom-bench rpc: cannot set up certificates or tokens\n");
    return 1;
  }
  SystemClock clock;
  auto made = (*tokens)->Create("bench", false, clock.NowMs(), 0);
  if (!made.ok()) {
    std::fprintf(stderr, "loom-bench rpc: %s\n", made.status().message().c_str());
    return 1;
  }
  const std::string token = made->second;
  const auto job_credentials = auth::JobCredentials::ForTesting(std::string(32, 'k'));

  const auto authenticator = std::make_shared<auth::Authenticator>(tokens->get(), &job_credentials, &clock);
  std::vector<Setup> setups(4);
  setups[0].name = "plaintext";
  setups[1].name = "tls";
  setups[2].name = "tls+token";
  setups[3].name = "tls+auth";
  for (size_t i = 0; i < setups.size(); ++i) {
    Setup& s = setups[i];
    s.service = std::make_unique<GetJobOnly>(BenchJob(), i == 3 ? authenticator.get() : nullptr);
    std::shared_ptr<grpc::ServerCredentials> credentials =
        i == 0 ? grpc::InsecureServerCredentials() : server_security->ServerCredentials();
    if (i == 2) credentials->SetAuthMetadataProcessor(std::make_shared<TokenPresent>());
    if (i == 3) credentials->SetAuthMetadataProcessor(authenticator);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(s.service.get());
    s.server = builder.BuildAndStart();
    if (!s.server || port == 0) {
      std::fprintf(stderr, "loom-bench rpc: cannot listen\n");
      return 1;
    }
    const std::string address = "127.0.0.1:" + std::to_string(port);
    auto channel = i == 0 ? tls::Security::Insecure().Dial(address, tls::kLoomdServerName)
                          : client_security->Dial(address, tls::kLoomdServerName, i >= 2 ? token : "");
    s.stub = v1::Scheduler::NewStub(channel);
  }

  auto call = [](Setup& s) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(20);
    v1::Job job;
    return s.stub->GetJob(&ctx, req, &job);
  };
  for (Setup& s : setups) {  // connect (and hand-shake) outside the timing, as a long-lived client does
    for (int i = 0; i < 100; ++i) {
      if (grpc::Status st = call(s); !st.ok()) {
        std::fprintf(stderr, "loom-bench rpc: %s: %s\n", s.name.c_str(), st.error_message().c_str());
        return 1;
      }
    }
  }
  for (int r = 0; r < rounds; ++r) {
    for (Setup& s : setups) {
      if (!only.empty() && s.name != only) continue;
      for (int i = 0; i < calls; ++i) {
        auto t = Clock::now();
        if (!call(s).ok()) return 1;
        s.us.push_back(Us(Clock::now() - t));
      }
    }
  }
  // The lookup alone, as the authenticator makes it on every call (hash, then the remembered map).
  const int lookups = 100000;
  auto t = Clock::now();
  for (int i = 0; i < lookups; ++i) {
    if (!(*tokens)->Verify(token, clock.NowMs()).ok()) return 1;
  }
  const double verify_us = Us(Clock::now() - t) / lookups;

  std::printf("# loom-bench rpc: GetJob answered inline, loopback, %d rounds of %d calls per set-up\n", rounds, calls);
  std::printf("%-12s %10s %10s %12s\n", "set-up", "median us", "p90 us", "vs plaintext");
  const double base = Percentile(setups[0].us, 0.5);
  for (const Setup& s : setups) {
    const double median = Percentile(s.us, 0.5);
    std::printf("%-12s %10.1f %10.1f %+11.1f\n", s.name.c_str(), median, Percentile(s.us, 0.9), median - base);
  }
  std::printf("TokenStore::Verify (remembered token): %.2f us per call\n", verify_us);
  for (Setup& s : setups) s.server->Shutdown();
  return 0;
}

}  // namespace loom::bench
