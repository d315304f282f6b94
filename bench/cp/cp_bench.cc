// loom-bench cp: the control plane at the seeds' scale. For each loomd binary and node count it
// starts a real loomd (temporary home, free loopback port), registers the nodes of a simulated
// fleet (bench/cp/fleet.h) over real gRPC, lets them heartbeat every second while jobs are
// submitted at a steady rate, run for a fixed time on the fake workers and are reported ended, and
// measures over a window after a warm-up: heartbeat and submit latency, loomd's CPU (/proc/PID/stat)
// and peak RSS (VmHWM). Several --loomd binaries run one after the other in the same invocation,
// so an old and a new ControlPlane are compared on the same machine at the same load.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/cp/fleet.h"
#include "bench/cp/loomd_process.h"
#include "loom/v1/loom.grpc.pb.h"

namespace loom::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Binary {
  std::string label, path;
};

struct CpArgs {
  std::vector<Binary> binaries;
  std::vector<int> nodes{1875, 18750};
  double duration_s = 30, warmup_s = 5, submit_rate = 200, job_s = 5;
  int job_gpus = 8;
  std::string sync = "full";
  int register_timeout_s = 600;
  int64_t node_timeout_s = 30;
  bool quiet_register = false;  // heartbeats start only once the whole fleet is registered
  FleetOptions fleet;
  bool json = false;
};

double Percentile(std::vector<float> v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// Submits 1-node jobs at a steady rate with at most `kMaxInFlight` calls outstanding.
class Submitter {
 public:
  Submitter(const std::string& loomd, const CpArgs& args)
      : stub_(v1::Scheduler::NewStub(grpc::CreateChannel(loomd, grpc::InsecureChannelCredentials()))),
        args_(args) {}
  ~Submitter() { Stop(); }
  void Start() { thread_ = std::thread([this] { Loop(); }); }
  void SetRecording(bool on) { recording_ = on; }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    const auto deadline = SteadyClock::now() + std::chrono::seconds(15);
    while (in_flight_ > 0 && SteadyClock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<float> latencies() {
    std::lock_guard<std::mutex> l(mu_);
    return ms_;
  }
  int64_t ok() const { return ok_; }
  int64_t failed() const { return failed_; }
  int64_t skipped() const { return skipped_; }

 private:
  static constexpr int kMaxInFlight = 1000;
  void Loop() {
    const auto period = std::chrono::duration<double>(1.0 / args_.submit_rate);
    const auto start = SteadyClock::now();
    for (int64_t i = 0; !stop_; ++i) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<SteadyClock::duration>(period * i));
      if (in_flight_ >= kMaxInFlight) {
        if (recording_) ++skipped_;
        continue;
      }
      Send();
    }
  }
  void Send() {
    struct Call {
      grpc::ClientContext ctx;
      v1::SubmitRequest req;
      v1::SubmitReply reply;
      SteadyClock::time_point t0;
    };
    auto* call = new Call;
    v1::JobSpec* spec = call->req.mutable_spec();
    spec->set_name("cp-bench");
    spec->set_tenant("bench");
    spec->set_gpus(args_.job_gpus);
    spec->add_command("/bin/true");
    (*spec->mutable_env())["LOOM_BENCH_JOB_MS"] = std::to_string(static_cast<int64_t>(args_.job_s * 1000));
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ++in_flight_;
    call->t0 = SteadyClock::now();
    stub_->async()->Submit(&call->ctx, &call->req, &call->reply, [this, call](grpc::Status s) {
      const float ms = std::chrono::duration<float, std::milli>(SteadyClock::now() - call->t0).count();
      if (recording_) {
        if (s.ok()) {
          ++ok_;
          std::lock_guard<std::mutex> l(mu_);
          ms_.push_back(ms);
        } else {
          ++failed_;
        }
      }
      delete call;
      --in_flight_;
    });
  }

  std::unique_ptr<v1::Scheduler::Stub> stub_;
  const CpArgs& args_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, recording_{false};
  std::atomic<int64_t> in_flight_{0}, ok_{0}, failed_{0}, skipped_{0};
  std::mutex mu_;
  std::vector<float> ms_;  // GUARDED_BY(mu_)
};

struct Result {
  std::string label;
  int nodes = 0;
  double register_s = 0, window_s = 0;
  FleetCounts fleet;
  std::vector<float> submit_ms;
  int64_t submits_ok = 0, submits_failed = 0, submits_skipped = 0;
  double loomd_cpu = 0, bench_cpu = 0;  // cores (1.0 = one core busy) over the window
  ProcUsage loomd_end;
  int nodes_up = -1, nodes_down = -1;
  std::string load_before, load_after;
};

void Print(const Result& r, bool json) {
  const double hb50 = Percentile(r.fleet.heartbeat_ms, 0.5), hb99 = Percentile(r.fleet.heartbeat_ms, 0.99);
  const double hbmax = r.fleet.heartbeat_ms.empty() ? 0 : *std::max_element(r.fleet.heartbeat_ms.begin(), r.fleet.heartbeat_ms.end());
  const double s50 = Percentile(r.submit_ms, 0.5), s99 = Percentile(r.submit_ms, 0.99);
  if (json) {
    std::printf("{\"loomd\":\"%s\",\"nodes\":%d,\"register_s\":%.2f,\"window_s\":%.1f,"
                "\"heartbeats_ok\":%lld,\"heartbeats_failed\":%lld,\"heartbeats_skipped\":%lld,"
                "\"heartbeat_p50_ms\":%.3f,\"heartbeat_p99_ms\":%.3f,\"heartbeat_max_ms\":%.1f,"
                "\"submits_ok\":%lld,\"submits_failed\":%lld,\"submits_skipped\":%lld,"
                "\"submit_p50_ms\":%.3f,\"submit_p99_ms\":%.3f,\"launches\":%lld,\"exits_acked\":%lld,"
                "\"kills\":%lld,\"reregisters\":%lld,\"loomd_cpu_cores\":%.3f,\"loomd_vmhwm_mib\":%.1f,"
                "\"loomd_vmrss_mib\":%.1f,\"bench_cpu_cores\":%.3f,\"nodes_up\":%d,\"nodes_down\":%d,"
                "\"loadavg_before\":\"%s\",\"loadavg_after\":\"%s\"}\n",
                r.label.c_str(), r.nodes, r.register_s, r.window_s, (long long)r.fleet.heartbeats_ok,
                (long long)r.fleet.heartbeats_failed, (long long)r.fleet.heartbeats_skipped, hb50, hb99, hbmax,
                (long long)r.submits_ok, (long long)r.submits_failed, (long long)r.submits_skipped, s50, s99,
                (long long)r.fleet.launches, (long long)r.fleet.exits_acked, (long long)r.fleet.kills,
                (long long)r.fleet.reregisters, r.loomd_cpu, r.loomd_end.hwm_kib / 1024.0,
                r.loomd_end.rss_kib / 1024.0, r.bench_cpu, r.nodes_up, r.nodes_down, r.load_before.c_str(),
                r.load_after.c_str());
    std::fflush(stdout);
    return;
  }
  std::printf("# %s, %d nodes: registered in %.1f s; %.0f s window; load %s -> %s\n", r.label.c_str(),
              r.nodes, r.register_s, r.window_s, r.load_before.c_str(), r.load_after.c_str());
  std::printf("  heartbeats  %8lld ok %6lld failed %6lld skipped   p50 %7.2f ms  p99 %7.2f ms  max %7.1f ms\n",
              (long long)r.fleet.heartbeats_ok, (long long)r.fleet.heartbeats_failed,
              (long long)r.fleet.heartbeats_skipped, hb50, hb99, hbmax);
  std::printf("  submits     %8lld ok %6lld failed %6lld skipped   p50 %7.2f ms  p99 %7.2f ms\n",
              (long long)r.submits_ok, (long long)r.submits_failed, (long long)r.submits_skipped, s50, s99);
  std::printf("  jobs        %8lld launched %lld ended %lld killed; %lld re-registrations; nodes up %d down %d\n",
              (long long)r.fleet.launches, (long long)r.fleet.exits_acked, (long long)r.fleet.kills,
              (long long)r.fleet.reregisters, r.nodes_up, r.nodes_down);
  std::printf("  loomd       %.2f cores, VmHWM %.0f MiB (VmRSS %.0f MiB); bench process %.2f cores\n",
              r.loomd_cpu, r.loomd_end.hwm_kib / 1024.0, r.loomd_end.rss_kib / 1024.0, r.bench_cpu);
  std::fflush(stdout);
}

StatusOr<Result> RunOne(const CpArgs& args, const Binary& binary, int nodes) {
  Result r;
  r.label = binary.label;
  r.nodes = nodes;
  r.load_before = LoadAverage();
  // Nodes miss beats under load; a generous timeout keeps the fleet UP so every run measures the
  // same cluster.
  auto loomd = LoomdProcess::Start(binary.path, {"--heartbeat-ms", std::to_string(args.fleet.heartbeat_ms),
                                                 "--node-timeout-ms", std::to_string(args.node_timeout_s * 1000),
                                                 "--sync", args.sync});
  if (!loomd.ok()) return loomd.status();
  FleetOptions fo = args.fleet;
  fo.nodes = nodes;
  auto fleet = Fleet::Start((*loomd)->address(), fo);
  if (!fleet.ok()) return fleet.status();
  const auto t_reg = SteadyClock::now();
  if (!args.quiet_register) (*fleet)->StartHeartbeats();
  if (Status s = (*fleet)->RegisterAll(std::chrono::seconds(args.register_timeout_s)); !s.ok()) return s;
  r.register_s = std::chrono::duration<double>(SteadyClock::now() - t_reg).count();
  if (args.quiet_register) (*fleet)->StartHeartbeats();
  Submitter submitter((*loomd)->address(), args);
  submitter.Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(args.warmup_s));

  auto loomd0 = ReadProcUsage((*loomd)->pid());
  auto self0 = ReadProcUsage(getpid());
  if (!loomd0.ok()) return Unavailable("loomd is gone: " + (*loomd)->LogTail());
  const auto t0 = SteadyClock::now();
  (*fleet)->SetRecording(true);
  submitter.SetRecording(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(args.duration_s));
  (*fleet)->SetRecording(false);
  submitter.SetRecording(false);
  r.window_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  auto loomd1 = ReadProcUsage((*loomd)->pid());
  auto self1 = ReadProcUsage(getpid());
  if (!loomd1.ok()) return Unavailable("loomd is gone: " + (*loomd)->LogTail());
  r.loomd_cpu = (loomd1->cpu_s - loomd0->cpu_s) / r.window_s;
  if (self0.ok() && self1.ok()) r.bench_cpu = (self1->cpu_s - self0->cpu_s) / r.window_s;
  r.loomd_end = *loomd1;
  r.load_after = LoadAverage();

  submitter.Stop();
  {
    auto stub = v1::Scheduler::NewStub(grpc::CreateChannel((*loomd)->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::Stats stats;
    if (stub->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok()) {
      r.nodes_up = stats.nodes_up();
      r.nodes_down = stats.nodes_down();
    }
  }
  (*fleet)->Stop();
  r.fleet = (*fleet)->Counts();
  r.submit_ms = submitter.latencies();
  r.submits_ok = submitter.ok();
  r.submits_failed = submitter.failed();
  r.submits_skipped = submitter.skipped();
  loomd->reset();  // stop loomd before the fake workers it may still call
  return r;
}

}  // namespace

int RunCp(int argc, char** argv) {
  // The fleet shares the machine with loomd: no abseil lock-order graph here either (loomd_main.cc).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CpArgs args;
  CLI::App app{"loom-bench cp: loomd's control plane under a simulated fleet (real gRPC, fake workers)"};
  std::vector<std::string> binaries;
  std::string nodes = "1875,18750";
  app.add_option("--loomd", binaries, "LABEL=PATH of a loomd binary (repeatable; default: loomd beside loom-bench)");
  app.add_option("--nodes", nodes, "comma-separated node counts")->capture_default_str();
  app.add_option("--duration-s", args.duration_s, "measurement window per run")->check(CLI::Range(1.0, 3600.0))->capture_default_str();
  app.add_option("--warmup-s", args.warmup_s, "after registration, before the window")->check(CLI::Range(0.0, 600.0))->capture_default_str();
  app.add_option("--submit-rate", args.submit_rate, "job submissions per second")->check(CLI::Range(0.1, 100000.0))->capture_default_str();
  app.add_option("--job-s", args.job_s, "how long each job runs on its fake worker")->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  app.add_option("--job-gpus", args.job_gpus, "GPUs per job")->check(CLI::Range(1, 8))->capture_default_str();
  app.add_option("--gpus-per-node", args.fleet.gpus_per_node)->check(CLI::Range(1, 16))->capture_default_str();
  app.add_option("--heartbeat-ms", args.fleet.heartbeat_ms)->check(CLI::Range(100, 60000))->capture_default_str();
  app.add_option("--servers", args.fleet.servers, "fake Worker gRPC servers")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--channels", args.fleet.channels, "fleet connections to loomd")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--sync", args.sync, "loomd --sync")->check(CLI::IsMember({"full", "normal"}))->capture_default_str();
  app.add_option("--register-timeout-s", args.register_timeout_s)->check(CLI::Range(1, 3600))->capture_default_str();
  app.add_option("--node-timeout-s", args.node_timeout_s, "loomd --node-timeout-ms, in seconds")
      ->check(CLI::Range(int64_t{2}, int64_t{3600}))->capture_default_str();
  app.add_flag("--quiet-register", args.quiet_register,
               "register the whole fleet before any heartbeat (with a --node-timeout-s longer than registration)");
  app.add_flag("--json", args.json, "one JSON object per run");
  CLI11_PARSE(app, argc, argv);

  for (const auto& b : binaries) {
    const size_t eq = b.find('=');
    Binary bin = eq == std::string::npos ? Binary{b, b} : Binary{b.substr(0, eq), b.substr(eq + 1)};
    if (access(bin.path.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "loom-bench cp: %s is not an executable loomd\n", bin.path.c_str());
      return 2;
    }
    args.binaries.push_back(bin);
  }
  if (args.binaries.empty()) {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    args.binaries.push_back({"loomd", (self.parent_path() / "loomd").string()});
  }
  args.nodes.clear();
  for (size_t pos = 0; pos <= nodes.size();) {
    size_t comma = std::min(nodes.find(',', pos), nodes.size());
    const std::string item = nodes.substr(pos, comma - pos);
    char* end = nullptr;
    long n = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || n < 1 || n > 1000000) {
      std::fprintf(stderr, "loom-bench cp: --nodes wants positive counts, got '%s'\n", item.c_str());
      return 2;
    }
    args.nodes.push_back(static_cast<int>(n));
    pos = comma + 1;
  }
  if (args.job_gpus > args.fleet.gpus_per_node) {
    std::fprintf(stderr, "loom-bench cp: --job-gpus must fit on one node (--gpus-per-node)\n");
    return 2;
  }

  // Sizes outer, binaries inner: the runs that are compared sit next to each other in time.
  int failures = 0;
  for (int n : args.nodes) {
    for (const auto& bin : args.binaries) {
      auto r = RunOne(args, bin, n);
      if (!r.ok()) {
        std::fprintf(stderr, "loom-bench cp: %s with %d nodes: %s\n", bin.label.c_str(), n,
                     r.status().message().c_str());
        ++failures;
        continue;
      }
      Print(*r, args.json);
      if (r->fleet.heartbeats_ok == 0 || r->submits_ok == 0) {
        std::fprintf(stderr, "loom-bench cp: %s with %d nodes: no heartbeat or no submit succeeded\n",
                     bin.label.c_str(), n);
        ++failures;
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace loom::bench
