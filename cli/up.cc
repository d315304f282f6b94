// loom up: loomd and N emulated workers on this machine, in the foreground until Ctrl-C or
// SIGTERM. It behaves like a cluster: a process that dies is restarted (with a backoff, and not
// in a crash loop: restart_policy.h) while the others run on, and it says so on stdout. It is the
// subreaper of what it starts, so the job supervisors of a dead worker stay in its care.
#include <signal.h>
#include <sys/prctl.h>
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
#include "cli/restart_policy.h"
#include "common/mpi_loopback.h"
#include "common/paths.h"
#include "common/process.h"
#include "common/tls/certs.h"
#include "common/tls/tls.h"
#include "scheduler/config/cluster_config.h"
#include "scheduler/config/policy_config.h"

namespace loom::cli {
namespace {

// "127.0.0.1:8080" -> "127.0.0.1": workers serve their /metrics on the same host, on ports of
// their own.
std::string HttpHost(const std::string& listen) { return listen.substr(0, listen.rfind(':')); }

std::string BinDir() { return std::filesystem::canonical("/proc/self/exe").parent_path(); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A process of the cluster: loomd (first) or a worker.
struct Member {
  std::string name;  // "loomd" or "worker node-2"
  std::vector<std::string> argv;
  std::string log;
  pid_t pid = 0;     // 0: not running
  RestartHistory history;
  int64_t restart_at_ms = 0;  // 0: no restart scheduled
};

std::string HowItEnded(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

void StopAll(std::vector<Member>& members) {
  // Workers first (they kill their jobs and report), loomd last.
  for (auto it = members.rbegin(); it != members.rend(); ++it) {
    if (it->pid > 0) kill(it->pid, SIGTERM);
  }
  for (Member& m : members) {
    if (m.pid <= 0) continue;
    int status;
    for (int i = 0; i < 100 && waitpid(m.pid, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (kill(m.pid, 0) == 0) {
      kill(m.pid, SIGKILL);
      waitpid(m.pid, &status, 0);
    }
    m.pid = 0;
  }
  // Supervisors re-parented here (their worker died): they end their ranks on SIGTERM.
  for (pid_t orphan : ChildrenOf(getpid())) kill(orphan, SIGTERM);
  for (int i = 0; i < 50 && !ChildrenOf(getpid()).empty(); ++i) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (pid_t orphan : ChildrenOf(getpid())) kill(orphan, SIGKILL);
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
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

  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string bin = BinDir();
  auto env = CurrentEnvironment();
  env["LOOM_HOME"] = g.home;
  std::vector<Member> members;
  auto start = [&](Member& m) -> bool {
    SpawnSpec spec;
    spec.argv = m.argv;
    spec.env = env;
    spec.stdout_path = g.home + "/" + m.log;
    spec.stderr_path = g.home + "/" + m.log;
    auto pid = Spawn(spec);
    if (!pid.ok()) {
      Error(pid.status().message());
      return false;
    }
    m.pid = *pid;
    m.history.started_ms = NowMs();
    return true;
  };

  std::vector<std::string> loomd = {bin + "/loomd", "--home", g.home, "--heartbeat-ms",
                                    std::to_string(o.heartbeat_ms), "--node-timeout-ms",
                                    std::to_string(o.node_timeout_ms)};
  loomd.insert(loomd.end(), policy_args->begin(), policy_args->end());
  if (!o.http_listen.empty()) loomd.insert(loomd.end(), {"--http-listen", o.http_listen});
  loomd.insert(loomd.end(), security_args.begin(), security_args.end());
  members.push_back({"loomd", std::move(loomd), "loomd.log"});
  if (!start(members[0])) {
    return 1;
  }
  std::string address;
  for (int i = 0; i < 100 && address.empty(); ++i) {
    std::ifstream in(AddressFile(g.home));
    std::getline(in, address);
    if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (address.empty()) {
    StopAll(members);
    return Error("loomd did not start; see " + g.home + "/loomd.log");
  }
  // A restarted loomd comes back on the same address, where the workers and the CLI look for it.
  members[0].argv.insert(members[0].argv.end(), {"--listen", address});
  // The node lease: a worker's jobs end when it has been cut off as long as loomd waits before
  // it calls the node DOWN (whole seconds, rounded up).
  const std::string lease = std::to_string((o.node_timeout_ms + 999) / 1000) + "s";
  // Every emulated GPU here shares this machine's GEMM rate: the peak their MFU is measured against.
  int machine_gpus = 0;
  for (const WorkerPlan& w : *plan) machine_gpus += w.gpus;
  if (geteuid() == 0) {
    std::printf("loom up: running as root, so jobs' ranks run as root too (a shared cluster's root workers "
                "map tenants to accounts: loom-worker --run-as)\n");
  }
  for (const WorkerPlan& w : *plan) {
    std::vector<std::string> argv = {bin + "/loom-worker", "--name", w.name, "--home", g.home, "--server", address,
                                     "--emulate-gpus", std::to_string(w.gpus), "--gpu-model", w.model,
                                     "--machine-gpus", std::to_string(machine_gpus),
                                     "--mpirun-args", kLoopbackMpirunArgs, "--node-lease", lease};
    // A local cluster is one user's: as root, its ranks run as root (said above).
    if (geteuid() == 0) argv.push_back("--allow-root-ranks");
    argv.insert(argv.end(), w.extra_args.begin(), w.extra_args.end());
    if (!o.http_listen.empty()) argv.insert(argv.end(), {"--http-listen", HttpHost(o.http_listen) + ":0"});
    argv.insert(argv.end(), security_args.begin(), security_args.end());
    members.push_back({"worker " + w.name, std::move(argv), w.name + ".log"});
    if (!start(members.back())) {
      StopAll(members);
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
    StopAll(members);
    return Error("workers did not register; see " + g.home + "/node-*.log");
  }
  int total_gpus = 0;
  for (const WorkerPlan& w : *plan) total_gpus += w.gpus;
  std::printf("Loom is up: loomd at %s, %d nodes with %d emulated %s GPUs in all, LOOM_HOME=%s\n",
              address.c_str(), workers, total_gpus, (*plan)[0].model.c_str(), g.home.c_str());
  const int example_gpus = (*plan)[0].gpus * std::min(workers, 2);
  std::printf("Try: loom submit --gpus %d -- /bin/sh -c 'echo rank $RANK of $WORLD_SIZE'; loom queue; loom nodes\n",
              example_gpus);
  if (!o.http_listen.empty()) {
    std::ifstream in(HttpUrlFile(g.home));
    std::string url;
    if (std::getline(in, url) && !url.empty()) {
      std::printf("Dashboard: %s/   Prometheus metrics: %s/metrics\n", url.c_str(), url.c_str());
    }
  }
  std::printf("Ctrl-C stops the cluster.\n");
  std::fflush(stdout);

  for (;;) {
    int64_t wait_ms = 1000;
    for (const Member& m : members) {
      if (m.restart_at_ms > 0) wait_ms = std::min(wait_ms, std::max<int64_t>(m.restart_at_ms - NowMs(), 0));
    }
    timespec ts{static_cast<time_t>(wait_ms / 1000), static_cast<long>(wait_ms % 1000) * 1000000L};
    const int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    int status = 0;
    for (pid_t dead; (dead = waitpid(-1, &status, WNOHANG)) > 0;) {
      auto m = std::find_if(members.begin(), members.end(), [&](const Member& x) { return x.pid == dead; });
      if (m == members.end()) continue;  // a supervisor re-parented here, done
      m->pid = 0;
      const RestartDecision d = OnProcessDeath(m->history, NowMs());
      if (d.restart) {
        std::printf("loom up: %s (pid %d) %s; restarting it in %lld s\n", m->name.c_str(), dead,
                    HowItEnded(status).c_str(), static_cast<long long>(d.delay_ms / 1000));
        m->restart_at_ms = NowMs() + d.delay_ms;
      } else {
        std::printf("loom up: %s (pid %d) %s, the %dth time soon after starting; not restarting it (see %s/%s)\n",
                    m->name.c_str(), dead, HowItEnded(status).c_str(), m->history.quick_deaths, g.home.c_str(),
                    m->log.c_str());
      }
      std::fflush(stdout);
    }
    for (Member& m : members) {
      if (m.restart_at_ms == 0 || NowMs() < m.restart_at_ms) continue;
      m.restart_at_ms = 0;
      if (start(m)) {
        std::printf("loom up: restarted %s (pid %d)\n", m.name.c_str(), m.pid);
      } else {
        m.restart_at_ms = NowMs() + kMaxRestartDelayMs;
      }
      std::fflush(stdout);
    }
  }
  StopAll(members);
  std::printf("Loom stopped.\n");
  return 0;
}

}  // namespace loom::cli
