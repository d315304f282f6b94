// loomd: the Loom scheduler daemon.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/duration.h"
#include "common/metrics/registry.h"
#include "common/metrics/rpc_metrics.h"
#include "common/paths.h"
#include "common/process.h"
#include "common/tls/tls.h"
#include "scheduler/auth/authenticator.h"
#include "scheduler/auth/token_store.h"
#include "scheduler/http/loomd_http.h"
#include "scheduler/config/policy_config.h"
#include "scheduler/service/callback_service.h"
#include "scheduler/service/control_plane.h"
#include "scheduler/service/scheduler_service.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "loomd: %s\n", message.c_str());
  return 1;
}

int CreateTokenLocally(const std::string& home, const std::string& tenant, bool admin, const std::string& expires) {
  int64_t lifetime_s = 0;
  if (!expires.empty()) {
    auto seconds = loom::ParseDuration(expires);
    if (!seconds.ok()) return Fail("--expires: " + seconds.status().message());
    if (*seconds <= 0) return Fail("--expires must be longer than 0");
    lifetime_s = *seconds;
  }
  if (auto s = loom::auth::ValidateTenant(tenant); !s.ok()) return Fail(s.message());
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  auto tokens = loom::auth::TokenStore::Open(loom::auth::TokensFile(home));
  if (!tokens.ok()) return Fail(tokens.status().message());
  loom::SystemClock clock;
  const int64_t now = clock.NowMs();
  auto made = (*tokens)->Create(tenant, admin, now, lifetime_s > 0 ? now + lifetime_s * 1000 : 0);
  if (!made.ok()) return Fail(made.status().message());
  std::printf("%s\n", made->second.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC locks absl::Mutexes on every call; the distribution's abseil is built without NDEBUG,
  // which leaves its lock-order (deadlock) graph on: about 8% of loomd's CPU at 18,750 nodes.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"loomd: the Loom scheduler daemon"};
  std::string home = loom::LoomHome();
  std::string listen = "127.0.0.1:0";
  std::string sync = "full";
  loom::ControlPlaneOptions options;
  app.add_option("--home", home, "state directory (database, address file); default $LOOM_HOME or ~/.loom");
  app.add_option("--listen", listen, "gRPC address to serve on; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--heartbeat-ms", options.heartbeat_interval_ms, "worker heartbeat interval")
      ->check(CLI::Range(10, 600000))->capture_default_str();
  app.add_option("--node-timeout-ms", options.node_timeout_ms, "mark a silent node DOWN after this long")
      ->check(CLI::Range(50, 3600000))->capture_default_str();
  app.add_option("--node-lease-ms", options.node_lease_ms,
                 "a DOWN node's GPUs return this long after its last heartbeat (its worker kills "
                 "its jobs by then); 0: 3 x --node-timeout-ms")
      ->check(CLI::Range(int64_t{0}, int64_t{24} * 3600 * 1000))->capture_default_str();
  int64_t min_job_age_s = options.min_job_age_ms / 1000;
  app.add_option("--min-job-age-s", min_job_age_s,
                 "finished jobs leave memory after this long (they stay in the database)")
      ->check(CLI::Range(int64_t{0}, int64_t{366} * 24 * 3600))->capture_default_str();
  std::string policy_config;
  app.add_option("--policy", options.policy,
                 "scheduling policy (overrides the policy config's `policy`)")->capture_default_str();
  app.add_option("--policy-config", policy_config,
                 "YAML policy settings: weights, fair share, tenants' quotas, backfill (policy-configs/)");
  app.add_option("--metrics-bucket-ms", options.metrics_bucket_ms,
                 "resolution of the usage and training-step time series")
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}))->capture_default_str();
  app.add_option("--sync", sync, "SQLite durability: full (survives power loss) or normal (process crashes)")
      ->check(CLI::IsMember({"full", "normal"}))->capture_default_str();
  int rpc_threads = 8;
  app.add_option("--rpc-threads", rpc_threads,
                 "threads for the RPCs that may wait for a commit (heartbeats that commit nothing "
                 "are answered on gRPC's own threads)")
      ->check(CLI::Range(1, 256))->capture_default_str();
  std::string http_listen;
  app.add_option("--http-listen", http_listen,
                 "serve /metrics and the dashboard here, e.g. 127.0.0.1:0 (off when not given)");
  bool insecure = false;
  std::string certs;
  app.add_flag("--insecure", insecure, "plaintext, no certificates, no tokens: only on a loopback --listen (development)");
  app.add_option("--certs", certs, "certificate directory (loom certs init); default <home>/certs");
  // loomd token create: the first admin token of a cluster, written straight into loomd's
  // token file (whoever can write that file owns the cluster anyway).
  auto* token_cmd = app.add_subcommand("token", "manage users' tokens from the head node");
  auto* token_create = token_cmd->add_subcommand("create", "print a new token (run as loomd's user, on its --home)");
  std::string token_tenant, token_expires;
  bool token_admin = false;
  token_create->add_option("--tenant", token_tenant, "the tenant the token acts for")->required();
  token_create->add_flag("--admin", token_admin, "may act for every tenant, on nodes and on tokens");
  token_create->add_option("--expires", token_expires, "lifetime (30d, 12h, ...); default never");
  token_cmd->require_subcommand(1);
  token_cmd->fallthrough();  // loomd token create --home DIR: loomd's options after the subcommand
  token_create->fallthrough();
  CLI11_PARSE(app, argc, argv);
  if (*token_create) {
    return CreateTokenLocally(home, token_tenant, token_admin, token_expires);
  }
  if (auto s = loom::tls::CheckInsecureListen(insecure, listen); !s.ok()) return Fail(s.message());
  if (!http_listen.empty()) {
    if (auto parts = loom::http::SplitListen(http_listen); !parts.ok()) return Fail(parts.status().message());
  }
  options.min_job_age_ms = min_job_age_s * 1000;
  // Fault injection for the lifecycle tests (docs/LIFECYCLE.md); never set in production.
  if (const char* fault = std::getenv("LOOM_FAULT_EXIT_BEFORE_LAUNCH"); fault && std::string(fault) == "1") {
    options.fault_exit_before_launch = true;
    std::fprintf(stderr, "loomd: FAULT INJECTION on: exits before its first Launch\n");
  }
  if (options.node_timeout_ms <= options.heartbeat_interval_ms) {
    return Fail("--node-timeout-ms must be longer than --heartbeat-ms");
  }
  if (options.node_lease_ms != 0 && options.node_lease_ms < options.node_timeout_ms) {
    return Fail("--node-lease-ms must be at least --node-timeout-ms");
  }
  // Settings are checked before anything is created or opened: a bad file changes nothing.
  loom::sched::AdmissionLimits admission;
  if (!policy_config.empty()) {
    auto config = loom::sched::LoadPolicyConfig(policy_config);
    if (!config.ok()) return Fail(config.status().message());
    options.policy_settings = config->settings;
    options.lifecycle.default_grace_ms = config->jobs.grace_ms;
    options.lifecycle.max_grace_ms = config->jobs.max_grace_ms;
    options.lifecycle.default_max_requeues = config->jobs.max_requeues;
    admission = config->admission;
    if (!config->policy.empty() && app.count("--policy") == 0) options.policy = config->policy;
  }
  if (auto policy = loom::sched::MakePolicy(options.policy, options.policy_settings); !policy.ok()) {
    return Fail(policy.status().message());
  }

  if (certs.empty()) certs = loom::tls::CertsDir(home);
  auto security = loom::tls::Security::FromFlags(insecure, certs, loom::tls::kLoomdIdentity);
  if (!security.ok()) return Fail(security.status().message());
  std::error_code ec;
  std::filesystem::create_directories(home, ec);
  if (ec) return Fail("cannot create state directory " + home + ": " + ec.message());

  // Block the stop signals in every thread; one thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Users' tokens and the key of job credentials; a plaintext loomd has neither.
  std::unique_ptr<loom::auth::TokenStore> tokens;
  if (!insecure) {
    auto opened = loom::auth::TokenStore::Open(loom::auth::TokensFile(home));
    if (!opened.ok()) return Fail(opened.status().message());
    tokens = std::move(*opened);
  }
  auto job_credentials = loom::auth::JobCredentials::LoadOrCreate(home + "/job-credential.key");
  if (!job_credentials.ok()) return Fail(job_credentials.status().message());

  auto store = loom::store::Store::Open(home + "/loomd.db", {.sync_full = sync == "full"});
  if (!store.ok()) return Fail(store.status().message());
  loom::SystemClock clock;
  loom::GrpcWorkerClient workers(*security, &*job_credentials);
  // Enough that a few hung workers (each call waits out its deadline) leave the rest served.
  options.worker_call_threads = 16;
  auto cp = loom::ControlPlane::Create(std::move(*store), &workers, &clock, options);
  if (!cp.ok()) return Fail("cannot load state: " + cp.status().message());

  std::unique_ptr<loom::http::LoomdHttp> http;
  if (!http_listen.empty()) {
    // With tokens, the dashboard takes the CLI's (an admin's); /metrics stays open to Prometheus.
    loom::http::DashboardAuth dashboard_auth;
    if (tokens) {
      dashboard_auth.verify = [store = tokens.get(), &clock](const std::string& token) {
        return store->Verify(token, clock.NowMs());
      };
    }
    auto started = loom::http::LoomdHttp::Start(http_listen, cp->get(), 2000, dashboard_auth);
    if (!started.ok()) return Fail(started.status().message());
    http = std::move(*started);
    if (!loom::WriteFileAtomically(loom::HttpUrlFile(home), http->url() + "\n").ok()) return Fail("cannot write " + loom::HttpUrlFile(home));
  }

  // The authenticator checks every call before its handler and tells the handlers who called.
  std::shared_ptr<loom::auth::Authenticator> authenticator;
  if (!insecure) authenticator = std::make_shared<loom::auth::Authenticator>(tokens.get(), &*job_credentials, &clock);
  loom::SchedulerService service(cp->get(), tokens.get(), &clock, authenticator.get(), admission);
  // Declared before the server, so it outlives the server's Shutdown, which waits for its calls.
  loom::CallPool rpc_pool(rpc_threads);
  loom::SchedulerCallbackService callback_service(&service, &rpc_pool);
  int port = 0;
  grpc::ServerBuilder builder;
  auto credentials = security->ServerCredentials();
  if (authenticator) credentials->SetAuthMetadataProcessor(authenticator);
  builder.AddListeningPort(listen, credentials, &port);
  builder.RegisterService(&callback_service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(loom::metrics::RpcMetricsInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::remove(loom::HttpUrlFile(home).c_str());
    return Fail("cannot listen on " + listen + " (address in use?)");
  }
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  std::string address = host + ":" + std::to_string(port);
  if (!loom::WriteFileAtomically(loom::AddressFile(home), address + "\n").ok()) {
    return Fail("cannot write " + loom::AddressFile(home));
  }
  std::fprintf(stderr, "loomd: serving on %s (%s), state in %s, policy %s\n", address.c_str(),
               insecure ? "PLAINTEXT" : "TLS", home.c_str(), options.policy.c_str());
  if (http) std::fprintf(stderr, "loomd: metrics and dashboard on %s\n", http->url().c_str());

  std::atomic<bool> stop{false};
  loom::ControlPlane* plane = cp->get();
  // Scheduling runs on events (submit, exit, node change); the timeout is only a safety net.
  std::thread scheduler([&] {
    while (!stop) {
      if (!plane->WaitForWork(1000)) continue;
      auto t0 = std::chrono::steady_clock::now();
      plane->SchedulePass();
      loom::metrics::Histogram("loom_scheduling_pass_duration_seconds", "One scheduling pass and its launches", {})
          .Observe({}, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  });
  std::thread liveness([&] {
    const auto period = std::chrono::milliseconds(std::max<int64_t>(options.heartbeat_interval_ms / 2, 5));
    while (!stop) {
      std::this_thread::sleep_for(period);
      plane->CheckLiveness();
      plane->FlushMetrics();
      plane->ForgetFinished();
    }
  });

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "loomd: stopping (signal %d)\n", sig);
  stop = true;
  plane->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  scheduler.join();
  liveness.join();
  http.reset();
  plane->FlushMetrics(/*everything=*/true);
  std::remove(loom::AddressFile(home).c_str());
  std::remove(loom::HttpUrlFile(home).c_str());
  return 0;
}
