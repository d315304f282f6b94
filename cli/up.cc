// loom up: loomd and N emulated workers on this machine, in the foreground until Ctrl-C.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/mpi_loopback.h"
#include "common/paths.h"
#include "common/process.h"
#include "common/tls/certs.h"
#include "common/tls/tls.h"
#include "scheduler/config/cluster_config.h"
#include "scheduler/config/policy_config.h"

namespace loom::cli {
namespace {

std::string BinDir() { return std::filesystem::canonical("/proc/self/exe").parent_path(); }

void StopAll(std::vector<pid_t>& pids) {
  // Workers first (they kill their jobs and report), loomd last.
  for (auto it = pids.rbegin(); it != pids.rend(); ++it) kill(*it, SIGTERM);
  for (pid_t pid : pids) {
    int status;
    for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (kill(pid, 0) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
  }
  pids.clear();
}

constexpr int kMaxLocalWorkers = 64;

// The emulated nodes to start: named node-1..N, or the nodes of a cluster config.
struct WorkerPlan {
  std::string name;
  int gpus;
  std::string model;
  std::vector<std::string> extra_args;
};

StatusOr<std::vector<WorkerPlan>> PlanWorkers(const UpOptions& o) {
  std::vector<WorkerPlan> plan;
  if (o.cluster_config.empty()) {
    if (o.workers < 1 || o.workers > kMaxLocalWorkers) {
      return InvalidArgument("--workers must be between 1 and " + std::to_string(kMaxLocalWorkers));
    }
    if (o.gpus_per_worker < 1 || o.gpus_per_worker > 64) return InvalidArgument("--gpus-per-worker must be between 1 and 64");
    for (int i = 1; i <= o.workers; ++i) {
      plan.push_back({"node-" + std::to_string(i), o.gpus_per_worker, o.gpu_model,
                      {"--label", "leaf=leaf-" + std::to_string((i - 1) / 4 + 1)}});
    }
    return plan;
  }
  LOOM_ASSIGN_OR_RETURN(sched::ClusterConfig config, sched::LoadClusterConfig(o.cluster_config));
  if (config.nodes.size() > static_cast<size_t>(kMaxLocalWorkers)) {
    return InvalidArgument(o.cluster_config + " has " + std::to_string(config.nodes.size()) +
                           " nodes; loom up runs at most " + std::to_string(kMaxLocalWorkers) + " workers on one machine (loom-bench sched drives large clusters)");
  }
  const std::string path = std::filesystem::absolute(o.cluster_config);
  for (const sched::NodeSpec& n : config.nodes) plan.push_back({n.name, n.gpus, n.model, {"--cluster-config", path}});
  return plan;
}

// loomd's policy flags. A bad policy config is reported here, before anything starts.
StatusOr<std::vector<std::string>> PolicyArgs(const UpOptions& o) {
  std::vector<std::string> args;
  if (!o.policy.empty()) args = {"--policy", o.policy};
  if (!o.policy_config.empty()) {
    LOOM_RETURN_IF_ERROR(sched::LoadPolicyConfig(o.policy_config).status());
    args.insert(args.end(), {"--policy-config", std::filesystem::absolute(o.policy_config)});
  }
  return args;
}

}  // namespace

int Up(const Global& g, const UpOptions& o) {
  auto plan = PlanWorkers(o);
  if (!plan.ok()) return Error(plan.status().message());
  auto policy_args = PolicyArgs(o);
  if (!policy_args.ok()) return Error(policy_args.status().message());
  std::error_code ec;
  std::filesystem::create_directories(g.home, ec);
  if (ec) return Error("cannot create " + g.home + ": " + ec.message());
  // TLS by default: the CA (made once, kept across restarts) and a certificate per node.
  std::vector<std::string> security_args;
  if (g.insecure) {
    security_args = {"--insecure"};
  } else {
    std::vector<std::string> names;
    for (const WorkerPlan& w : *plan) names.push_back(w.name);
    if (Status s = tls::InitCertificates(tls::CertsDir(g.home), names); !s.ok()) return Error(s.message());
    if (Status s = EnsureLocalAdminToken(g.home); !s.ok()) return Error(s.message());
  }

  // One cluster per LOOM_HOME: refuse to start a second over a live loomd.
  if (std::filesystem::exists(AddressFile(g.home))) {
    auto client = Client::Connect("", g.home);
    v1::Stats stats;
    if (client.ok() && client->Call(&v1::Scheduler::Stub::GetStats, v1::GetStatsRequest(), &stats).ok()) {
      return Error("a loomd is already running at " + client->address() + " for LOOM_HOME=" + g.home +
                   "; stop it or use another LOOM_HOME");
    }
    std::filesystem::remove(AddressFile(g.home), ec);
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string bin = BinDir();
  auto env = CurrentEnvironment();
  env["LOOM_HOME"] = g.home;
  std::vector<pid_t> pids;
  auto start = [&](std::vector<std::string> argv, const std::string& log) -> bool {
    SpawnSpec spec;
    spec.argv = std::move(argv);
    spec.env = env;
    spec.stdout_path = g.home + "/" + log;
    spec.stderr_path = g.home + "/" + log;
    auto pid = Spawn(spec);
    if (!pid.ok()) {
      Error(pid.status().message());
      return false;
    }
    pids.push_back(*pid);
    return true;
  };

  std::vector<std::string> loomd = {bin + "/loomd", "--home", g.home, "--heartbeat-ms",
                                    std::to_string(o.heartbeat_ms), "--node-timeout-ms",
                                    std::to_string(o.node_timeout_ms)};
  loomd.insert(loomd.end(), policy_args->begin(), policy_args->end());
  loomd.insert(loomd.end(), security_args.begin(), security_args.end());
  if (!start(std::move(loomd), "loomd.log")) {
    return 1;
  }
  std::string address;
  for (int i = 0; i < 100 && address.empty(); ++i) {
    std::ifstream in(AddressFile(g.home));
    std::getline(in, address);
    if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (address.empty()) {
    StopAll(pids);
    return Error("loomd did not start; see " + g.home + "/loomd.log");
  }
  // Every emulated GPU here shares this machine's GEMM rate: the peak their MFU is measured against.
  int machine_gpus = 0;
  for (const WorkerPlan& w : *plan) machine_gpus += w.gpus;
  for (const WorkerPlan& w : *plan) {
    std::vector<std::string> argv = {bin + "/loom-worker", "--name", w.name, "--home", g.home, "--server", address,
                                     "--emulate-gpus", std::to_string(w.gpus), "--gpu-model", w.model,
                                     "--machine-gpus", std::to_string(machine_gpus),
                                     "--mpirun-args", kLoopbackMpirunArgs};
    argv.insert(argv.end(), w.extra_args.begin(), w.extra_args.end());
    argv.insert(argv.end(), security_args.begin(), security_args.end());
    if (!start(std::move(argv), w.name + ".log")) {
      StopAll(pids);
      return 1;
    }
  }
  const int workers = static_cast<int>(plan->size());
  // Ready when every worker has registered.
  auto client = Client::Connect(address, g.home);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    v1::ListNodesReply nodes;
    if (client.ok() && client->Call(&v1::Scheduler::Stub::ListNodes, v1::ListNodesRequest(), &nodes).ok()) {
      int up = 0;
      for (const auto& n : nodes.nodes()) up += n.state() == v1::UP;
      ready = up >= workers;
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!ready) {
    StopAll(pids);
    return Error("workers did not register; see " + g.home + "/node-*.log");
  }
  int total_gpus = 0;
  for (const WorkerPlan& w : *plan) total_gpus += w.gpus;
  std::printf("Loom is up: loomd at %s, %d nodes with %d emulated %s GPUs in all, LOOM_HOME=%s\n",
              address.c_str(), workers, total_gpus, (*plan)[0].model.c_str(), g.home.c_str());
  const int example_gpus = (*plan)[0].gpus * std::min(workers, 2);
  std::printf("Try: loom submit --gpus %d -- /bin/sh -c 'echo rank $RANK of $WORLD_SIZE'; loom queue; loom nodes\n",
              example_gpus);
  std::printf("Ctrl-C stops the cluster.\n");
  std::fflush(stdout);

  for (;;) {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != SIGCHLD) break;
    int status;
    pid_t dead = waitpid(-1, &status, WNOHANG);
    if (dead > 0) {
      std::erase(pids, dead);
      StopAll(pids);
      return Error("a cluster process (pid " + std::to_string(dead) + ") exited; see the logs in " + g.home);
    }
  }
  StopAll(pids);
  std::printf("Loom stopped.\n");
  return 0;
}

}  // namespace loom::cli
