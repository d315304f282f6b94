// loom-bench cluster: control-plane latency and throughput against a running Loom cluster.
//   latency:    a trivial 1-GPU job, one at a time: submit returning -> RUNNING -> COMPLETED
//   small RPC:  GetJob of a finished job, one call at a time: the cost of one round trip
//   throughput: N trivial jobs submitted at once; completed jobs per second
// Run it against `loom up` (bench/cluster.sh does both).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/cluster/percentile.h"
#include "cli/client.h"
#include "common/paths.h"
#include "common/tls/tls.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Args {
  std::string server;
  int latency_jobs = 20;
  int throughput_jobs = 500;
  int rpc_calls = 2000;
  bool json = false;
};

bool Parse(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "loom-bench cluster: %s needs a value\n", name);
        return nullptr;
      }
      return argv[++i];
    };
    const char* v = nullptr;
    if (k == "--server") {
      if (!(v = value("--server"))) return false;
      a->server = v;
    } else if (k == "--latency-jobs") {
      if (!(v = value("--latency-jobs"))) return false;
      a->latency_jobs = std::atoi(v);
    } else if (k == "--throughput-jobs") {
      if (!(v = value("--throughput-jobs"))) return false;
      a->throughput_jobs = std::atoi(v);
    } else if (k == "--rpc-calls") {
      if (!(v = value("--rpc-calls"))) return false;
      a->rpc_calls = std::atoi(v);
    } else if (k == "--json") {
      a->json = true;
    } else if (k == "-h" || k == "--help") {
      std::printf("usage: loom-bench cluster [--server HOST:PORT] [--latency-jobs N] [--throughput-jobs N] [--rpc-calls N] [--json]\n");
      std::exit(0);
    } else {
      std::fprintf(stderr, "loom-bench cluster: unknown option '%s' (see --help)\n", k.c_str());
      return false;
    }
  }
  if (a->latency_jobs < 1 || a->throughput_jobs < 1 || a->rpc_calls < 1) {
    std::fprintf(stderr, "loom-bench cluster: job counts must be at least 1\n");
    return false;
  }
  return true;
}

class Bench {
 public:
  explicit Bench(std::shared_ptr<grpc::Channel> channel) : stub_(v1::Scheduler::NewStub(channel)) {}

  bool Submit(int64_t* id) {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    req.mutable_spec()->set_gpus(1);
    req.mutable_spec()->set_name("bench");
    req.mutable_spec()->add_command("/bin/true");
    v1::SubmitReply reply;
    grpc::Status s = stub_->Submit(&ctx, req, &reply);
    if (!s.ok()) {
      std::fprintf(stderr, "loom-bench cluster: submit: %s\n", s.error_message().c_str());
      return false;
    }
    *id = reply.job_id();
    return true;
  }

  bool Get(int64_t id, v1::Job* job) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    return stub_->GetJob(&ctx, req, job).ok();
  }

  int64_t Completed() {
    grpc::ClientContext ctx;
    v1::Stats stats;
    if (!stub_->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok()) return -1;
    auto it = stats.jobs_by_state().find("COMPLETED");
    return it == stats.jobs_by_state().end() ? 0 : it->second;
  }

 private:
  std::unique_ptr<v1::Scheduler::Stub> stub_;
};

}  // namespace

int RunCluster(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) return 2;
  auto address = ResolveServer(args.server, LoomHome());
  if (!address.ok()) {
    std::fprintf(stderr, "loom-bench cluster: %s\n", address.status().message().c_str());
    return 1;
  }
  // As the CLI connects: TLS and the user's token, or plaintext with LOOM_INSECURE=1.
  auto security = tls::Security::ForClient(LoomHome());
  auto token = cli::FindToken(LoomHome());
  if (!security.ok() || !token.ok()) {
    std::fprintf(stderr, "loom-bench cluster: %s\n",
                 (!security.ok() ? security.status() : token.status()).message().c_str());
    return 1;
  }
  Bench bench(security->Dial(*address, tls::kLoomdServerName, security->insecure() ? "" : *token));

  // Latency: one job at a time, polled as fast as loomd answers.
  std::vector<double> submit_ms, running_ms, completed_ms, server_start_ms;
  int64_t last_id = 0;
  for (int i = 0; i < args.latency_jobs; ++i) {
    auto t0 = Clock::now();
    int64_t id;
    if (!bench.Submit(&id)) return 1;
    last_id = id;
    auto t_submitted = Clock::now();
    submit_ms.push_back(Ms(t_submitted - t0));
    bool saw_running = false;
    v1::Job job;
    for (;;) {
      if (!bench.Get(id, &job)) return 1;
      if (!saw_running && job.state() != v1::PENDING) {
        saw_running = true;
        running_ms.push_back(Ms(Clock::now() - t_submitted));
      }
      if (job.state() == v1::COMPLETED || job.state() == v1::FAILED) break;
    }
    if (job.state() != v1::COMPLETED) {
      std::fprintf(stderr, "loom-bench cluster: job %lld failed: %s\n", static_cast<long long>(id), job.reason().c_str());
      return 1;
    }
    completed_ms.push_back(Ms(Clock::now() - t_submitted));
    server_start_ms.push_back(static_cast<double>(job.start_time_ms() - job.submit_time_ms()));
  }

  // One small RPC, alone on a quiet cluster: what a poll costs, without the job's start in it.
  std::vector<double> rpc_ms;
  rpc_ms.reserve(args.rpc_calls);
  for (int i = 0; i < args.rpc_calls; ++i) {
    v1::Job job;
    auto t = Clock::now();
    if (!bench.Get(last_id, &job)) return 1;
    rpc_ms.push_back(Ms(Clock::now() - t));
  }

  // Throughput: N jobs at once.
  const int64_t before = bench.Completed();
  auto t0 = Clock::now();
  for (int i = 0; i < args.throughput_jobs; ++i) {
    int64_t id;
    if (!bench.Submit(&id)) return 1;
  }
  const double submit_s = Ms(Clock::now() - t0) / 1000;
  int64_t done = 0;
  auto deadline = Clock::now() + std::chrono::minutes(10);
  while ((done = bench.Completed() - before) < args.throughput_jobs && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double total_s = Ms(Clock::now() - t0) / 1000;
  if (done < args.throughput_jobs) {
    std::fprintf(stderr, "loom-bench cluster: only %lld of %d jobs completed in 10 minutes\n",
                 static_cast<long long>(done), args.throughput_jobs);
    return 1;
  }

  if (args.json) {
    std::printf("{\"latency_jobs\": %d, \"submit_ms_median\": %.3f, \"to_running_ms_median\": %.3f, "
                "\"to_running_ms_p90\": %.3f, \"to_completed_ms_median\": %.3f, \"to_completed_ms_p90\": %.3f, "
                "\"server_submit_to_start_ms_median\": %.1f, \"getjob_ms_median\": %.3f, "
                "\"getjob_ms_p90\": %.3f, \"throughput_jobs\": %d, \"submit_s\": %.3f, "
                "\"total_s\": %.3f, \"jobs_per_s\": %.1f}\n",
                args.latency_jobs, Percentile(submit_ms, 0.5), Percentile(running_ms, 0.5),
                Percentile(running_ms, 0.9), Percentile(completed_ms, 0.5), Percentile(completed_ms, 0.9),
                Percentile(server_start_ms, 0.5), Percentile(rpc_ms, 0.5), Percentile(rpc_ms, 0.9), args.throughput_jobs, submit_s, total_s,
                args.throughput_jobs / total_s);
    return 0;
  }
  std::printf("# loom-bench cluster against loomd at %s\n", address->c_str());
  std::printf("# latency: %d trivial 1-GPU jobs (/bin/true), one at a time\n", args.latency_jobs);
  std::printf("%-34s %10s %10s\n", "", "median ms", "p90 ms");
  std::printf("%-34s %10.2f %10.2f\n", "submit RPC", Percentile(submit_ms, 0.5), Percentile(submit_ms, 0.9));
  std::printf("%-34s %10.2f %10.2f\n", "submit returned -> RUNNING seen", Percentile(running_ms, 0.5), Percentile(running_ms, 0.9));
  std::printf("%-34s %10.2f %10.2f\n", "submit returned -> COMPLETED seen", Percentile(completed_ms, 0.5), Percentile(completed_ms, 0.9));
  std::printf("%-34s %10.1f %10.1f\n", "loomd submit -> start (its clock)", Percentile(server_start_ms, 0.5), Percentile(server_start_ms, 0.9));
  std::printf("# small RPC: GetJob of a finished job, %d calls one at a time\n", args.rpc_calls);
  std::printf("%-34s %10.3f %10.3f\n", "GetJob RPC", Percentile(rpc_ms, 0.5), Percentile(rpc_ms, 0.9));
  std::printf("# throughput: %d trivial jobs submitted at once\n", args.throughput_jobs);
  std::printf("submitted in %.2f s, all completed after %.2f s: %.1f jobs/s\n", submit_s, total_s,
              args.throughput_jobs / total_s);
  return 0;
}

}  // namespace loom::bench
