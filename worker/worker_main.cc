// loom-worker: one per node. Registers the node's GPUs with loomd and runs the jobs it is given.
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <signal.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "common/duration.h"
#include "common/http/http_server.h"
#include "common/metrics/registry.h"
#include "common/metrics/rpc_metrics.h"
#include "common/node_name.h"
#include "common/paths.h"
#include "common/process.h"
#include "common/tls/tls.h"
#include "scheduler/config/cluster_config.h"
#include "worker/gpu.h"
#include "worker/health.h"
#include "worker/peak.h"
#include "worker/job_runner.h"
#include "worker/node_agent.h"
#include "worker/worker_metrics.h"
#include "worker/worker_service.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "loom-worker: %s\n", message.c_str());
  return 1;
}

std::string RandomSession() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%08x%08x", rd(), rd());
  return buf;
}

// The worker's session, kept in its state directory: a restarted worker (same --home and --name)
// is the same worker to loomd, which lets it re-register at once with the attempts its
// supervisors still run; a second worker under another home is a clash loomd refuses.
loom::StatusOr<std::string> PersistentSession(const std::string& state_dir) {
  const std::string path = state_dir + "/session";
  if (auto kept = loom::ReadWholeFile(path); kept.ok() && kept->size() > 1) return kept->substr(0, kept->find('\n'));
  std::string session = RandomSession();
  LOOM_RETURN_IF_ERROR(loom::WriteFileAtomically(path, session + "\n"));
  return session;
}

std::string Hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loom-worker: runs Loom jobs on this node's GPUs"};
  std::string name = Hostname(), server_flag, home = loom::LoomHome(), listen = "127.0.0.1:0", host;
  std::string model = "H100-SXM-80GB";
  int emulate = 0;
  double peak_tflops = 0;
  int machine_gpus = 0;
  int64_t kill_grace_ms = 5000;
  std::string lease_text, health_check, health_interval = "60s";
  std::vector<std::string> labels;
  std::string mpirun_args;
  app.add_option("--name", name, "node name (default: the hostname)")->capture_default_str();
  app.add_option("--server", server_flag, "loomd address HOST:PORT (default $LOOM_SERVER, then $LOOM_HOME/loomd.addr)");
  app.add_option("--home", home, "state directory; job output goes under <home>/nodes/<name>");
  app.add_option("--listen", listen, "address of this worker's gRPC service; port 0 picks one")->capture_default_str();
  app.add_option("--host", host, "address other nodes reach this one at (MASTER_ADDR); default: the --listen host");
  app.add_option("--emulate-gpus", emulate, "present N CPU-emulated GPUs instead of discovering CUDA devices");
  app.add_option("--gpu-model", model, "model of the emulated GPUs")->capture_default_str();
  app.add_option("--peak-tflops", peak_tflops,
                 "per-GPU peak MFU is measured against; default: the model's figure for real GPUs, "
                 "a GEMM calibration shared among emulated ones")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--machine-gpus", machine_gpus,
                 "emulated GPUs sharing this machine's cores, across every worker on it "
                 "(loom up sets it); default: this worker's")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--label", labels, "topology label KEY=VALUE (rack, leaf, spine); repeatable");
  std::string cluster_config;
  app.add_option("--cluster-config", cluster_config,
                 "cluster config (cluster-configs/*.yaml) giving this node's leaf and spine labels; --label overrides");
  app.add_option("--mpirun-args", mpirun_args, "extra mpirun arguments for MPI jobs, space-separated");
  app.add_option("--kill-grace-ms", kill_grace_ms, "SIGTERM to SIGKILL delay when killing a job")
      ->check(CLI::Range(0, 600000))->capture_default_str();
  std::string http_listen;
  app.add_option("--http-listen", http_listen, "serve /metrics (per-GPU figures) here, e.g. 127.0.0.1:0; off when not given");
  app.add_option("--node-lease", lease_text,
                 "kill this node's jobs when loomd is unreachable this long (e.g. 30s), where loomd names no lease");
  app.add_option("--health-check", health_check,
                 "program run at start and every --health-interval; a non-zero exit reports the node failing, "
                 "its first output line the reason (Slurm's HealthCheckProgram)");
  app.add_option("--health-interval", health_interval, "how often --health-check runs (e.g. 60s, 5m)")->capture_default_str();
  bool insecure = false;
  std::string certs;
  std::vector<std::string> run_as;
  app.add_option("--run-as", run_as,
                 "TENANT=USER: a root worker runs that tenant's ranks as USER ('*=USER' for every other "
                 "tenant); with any given, unmapped tenants are refused at launch. Repeatable");
  bool allow_root_ranks = false;
  app.add_flag("--allow-root-ranks", allow_root_ranks,
               "a root worker without --run-as runs ranks as root (a single-user development machine; "
               "without it such a worker refuses every launch)");
  app.add_flag("--insecure", insecure, "plaintext, no certificates: only on a loopback --listen (development)");
  app.add_option("--certs", certs, "certificate directory holding ca.crt and node-<name>.crt/.key; default <home>/certs");
  CLI11_PARSE(app, argc, argv);
  if (auto s = loom::tls::CheckInsecureListen(insecure, listen); !s.ok()) return Fail(s.message());
  if (!http_listen.empty()) {
    if (auto parts = loom::http::SplitListen(http_listen); !parts.ok()) return Fail(parts.status().message());
  }
  auto health_seconds = loom::ParseDuration(health_interval);
  if (!health_seconds.ok() || *health_seconds <= 0) {
    return Fail("--health-interval '" + health_interval + "' is not a positive duration");
  }
  int64_t lease_ms = 0;
  if (!lease_text.empty()) {
    auto seconds = loom::ParseDuration(lease_text);
    if (!seconds.ok() || *seconds <= 0) return Fail("--node-lease '" + lease_text + "' is not a positive duration");
    lease_ms = *seconds * 1000;
  }

  // CUDA then numbers devices as NVML does (by PCI bus), and so do the ranks, which inherit it.
  if (emulate == 0) setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
  auto gpus = emulate > 0 ? loom::worker::EmulatedGpus(emulate, model) : loom::worker::DiscoverCudaGpus();
  if (!gpus.ok()) return Fail(gpus.status().message());
  if (gpus->empty()) return Fail("no CUDA GPUs found on this node; pass --emulate-gpus N to emulate some");
  if (machine_gpus != 0 && machine_gpus < emulate) {
    return Fail("--machine-gpus (" + std::to_string(machine_gpus) + ") must count at least this worker's " +
                std::to_string(emulate) + " emulated GPUs");
  }
  if (emulate > 0) {
    const int cores = loom::worker::EmulatedGpuCores(machine_gpus > 0 ? machine_gpus : emulate);
    // Each rank's BLAS gets its GPU's share of the cores (a job's --env may still override).
    setenv("OPENBLAS_NUM_THREADS", std::to_string(cores).c_str(), 1);
    if (peak_tflops == 0) {
      auto calibrated = loom::worker::EmulatedPeakTflops(cores, "/tmp/loom-calibration.lock");
      if (!calibrated.ok()) return Fail("GEMM calibration: " + calibrated.status().message());
      peak_tflops = *calibrated;
    }
  }
  if (peak_tflops > 0) {
    for (auto& g : *gpus) g.set_peak_tflops(peak_tflops);
  }
  auto server = loom::ResolveServer(server_flag, home);
  if (!server.ok()) return Fail(server.status().message());
  // Ranks inherit it: loom-train reports its steps to this loomd (and `loom` run in a job finds it).
  setenv("LOOM_SERVER", server->c_str(), 1);
  if (auto s = loom::ValidateNodeName(name); !s.ok()) return Fail(s.message());
  if (certs.empty()) certs = loom::tls::CertsDir(home);
  auto security = loom::tls::Security::FromFlags(insecure, certs, loom::tls::NodeCertStem(name));
  if (!security.ok()) return Fail(security.status().message());
  // What ranks (a training job's step reporter, mpirun's launch agent) trust: the CA, public.
  if (insecure) {
    setenv("LOOM_INSECURE", "1", 1);
  } else {
    setenv("LOOM_CA_CERT", std::filesystem::absolute(certs + "/ca.crt").c_str(), 1);
  }
  std::map<std::string, std::string> label_map;
  if (!cluster_config.empty()) {
    auto config = loom::sched::LoadClusterConfig(cluster_config);
    if (!config.ok()) return Fail(config.status().message());
    const loom::sched::NodeSpec* spec = config->FindNode(name);
    if (!spec) return Fail("node " + name + " is not in cluster config " + cluster_config);
    label_map = loom::sched::NodeLabels(*spec);
  }
  for (const std::string& l : labels) {
    auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0) return Fail("label '" + l + "' is not KEY=VALUE");
    label_map[l.substr(0, eq)] = l.substr(eq + 1);
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const std::string state_dir = home + "/nodes/" + name;
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return Fail("cannot create " + state_dir + ": " + ec.message());
  // One worker per state directory: held until this process dies, however it dies.
  const int lock_fd = open((state_dir + "/worker.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Fail("another loom-worker runs as node " + name + " with this --home (" + state_dir + ")");
  }
  auto session = PersistentSession(state_dir);
  if (!session.ok()) return Fail(session.status().message());

  loom::v1::Node node;
  node.set_name(name);
  for (auto& g : *gpus) *node.add_gpus() = g;
  for (const auto& [k, v] : label_map) (*node.mutable_labels())[k] = v;
  loom::worker::NodeAgent* agent_ptr = nullptr;

  loom::worker::RunnerOptions options;
  options.state_dir = state_dir;
  const std::filesystem::path bin_dir = std::filesystem::canonical("/proc/self/exe").parent_path();
  options.launch_agent = bin_dir / "loom-launch-agent";
  options.supervisor = bin_dir / "loom-supervisor";
  std::istringstream words(mpirun_args);
  for (std::string w; words >> w;) options.mpirun_args.push_back(w);
  options.kill_grace_ms = kill_grace_ms;
  options.lease_file = state_dir + "/lease";
  for (const std::string& m : run_as) {
    auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) return Fail("--run-as '" + m + "' is not TENANT=USER");
    if (getpwnam(m.substr(eq + 1).c_str()) == nullptr) return Fail("--run-as " + m + ": no Unix account " + m.substr(eq + 1));
    options.run_as[m.substr(0, eq)] = m.substr(eq + 1);
  }
  if (!run_as.empty() && geteuid() != 0) return Fail("--run-as needs a worker running as root");
  if (run_as.empty() && geteuid() == 0) {
    if (allow_root_ranks) {
      std::fprintf(stderr, "loom-worker: warning: --allow-root-ranks: jobs' ranks run as root\n");
    } else {
      options.refuse_unmapped = true;
      std::fprintf(stderr, "loom-worker: running as root with no --run-as: every launch is refused "
                           "(map tenants with --run-as TENANT=USER, or --allow-root-ranks)\n");
    }
  }

  // The agent is created once the service's port is known; exits reported before that (attempts
  // an earlier worker left finished) wait here.
  std::unique_ptr<loom::worker::NodeAgent> agent;
  std::mutex early_mu;
  std::vector<loom::worker::JobExit> early_exits;
  auto runner = std::make_unique<loom::worker::JobRunner>(options, [&](const loom::worker::JobExit& e) {
    std::lock_guard<std::mutex> lock(early_mu);
    if (agent_ptr) {
      agent_ptr->OnJobExit(e);
    } else {
      early_exits.push_back(e);
    }
  });
  // A restarted worker (same --home and --name) takes over the attempts its supervisors still run.
  if (int adopted = runner->Adopt(); adopted > 0) {
    std::fprintf(stderr, "loom-worker: re-adopted %d job attempt(s) an earlier worker left\n", adopted);
  }
  loom::worker::WorkerService service(runner.get(), /*check_loomd=*/!insecure);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, security->ServerCredentials(), &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(loom::metrics::RpcMetricsInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || port == 0) return Fail("cannot listen on " + listen);
  std::string listen_host = listen.substr(0, listen.rfind(':'));
  if (listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "[::]") listen_host = Hostname();
  node.set_address(listen_host + ":" + std::to_string(port));
  node.set_host(host.empty() ? listen_host : host);

  loom::worker::AgentOptions agent_options;
  agent_options.report_dir = state_dir + "/reports";
  agent_options.default_lease_ms = lease_ms;
  agent_options.lease_file = options.lease_file;
  agent = std::make_unique<loom::worker::NodeAgent>(security->Dial(*server, loom::tls::kLoomdServerName), *server,
                                                    node, *session, agent_options);
  agent->set_runner(runner.get());
  std::unique_ptr<loom::worker::NvmlSampler> nvml = emulate == 0 ? loom::worker::NvmlSampler::Load() : nullptr;
  loom::worker::NvmlSampler* nvml_health = nvml.get();  // NVML may be called from two threads
  if (nvml) agent->set_nvml(std::move(nvml));
  std::function<loom::v1::NodeHealth()> nvml_check;
  if (nvml_health) {
    const int gpu_count = static_cast<int>(gpus->size());
    nvml_check = [nvml_health, gpu_count] { return nvml_health->Health(gpu_count); };
  }
  auto health = std::make_unique<loom::worker::HealthMonitor>(
      health_check, std::chrono::seconds(*health_seconds),
      [&runner](const std::string& command, std::chrono::milliseconds bound) { return runner->RunCommand(command, bound); },
      nvml_check);
  health->Start();  // the first verdict goes with Register
  if (health->Current().failing()) {
    std::fprintf(stderr, "loom-worker: health check failing: %s\n", health->Current().reason().c_str());
  }
  agent->set_health([&health] { return health->Current(); });
  {
    std::lock_guard<std::mutex> lock(early_mu);
    agent_ptr = agent.get();
    for (const auto& e : early_exits) agent->OnJobExit(e);
  }
  loom::Status s = agent->Register();
  if (!s.ok()) {
    Fail(s.message());
    // Not through the runner's destructor, which would end the attempts re-adopted above: they
    // run on for the next worker (or until the node lease ends them).
    _exit(1);
  }
  std::fprintf(stderr, "loom-worker: node %s with %d %s%s GPU(s) (peak %.4g TFLOP/s each) serving on %s, loomd at %s\n",
               name.c_str(), gpus->size() > 0 ? static_cast<int>(gpus->size()) : 0,
               emulate > 0 ? "emulated " : "", (*gpus)[0].model().c_str(), (*gpus)[0].peak_tflops(),
               node.address().c_str(), server->c_str());

  std::unique_ptr<loom::http::HttpServer> http;
  if (!http_listen.empty()) {
    auto started = loom::http::HttpServer::Start(http_listen, {{"/metrics", [&](const loom::http::Request&) {
      auto families = loom::worker::WorkerFamilies(node, agent->LastBusy(), static_cast<int>(runner->Running().size()));
      for (auto& f : loom::metrics::Registry::Global().Collect()) families.push_back(std::move(f));
      return loom::http::Reply{200, "text/plain; version=0.0.4; charset=utf-8", loom::metrics::Render(families)};
    }}});
    if (!started.ok()) return Fail(started.status().message());
    http = std::move(*started);
    if (!loom::WriteFileAtomically(state_dir + "/worker.http", http->url() + "\n").ok()) return Fail("cannot write " + state_dir + "/worker.http");
    std::fprintf(stderr, "loom-worker: metrics on %s/metrics\n", http->url().c_str());
  }
  std::atomic<bool> stop{false};
  std::thread loop([&] { agent->Run(stop); });
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "loom-worker: stopping (signal %d), killing its jobs\n", sig);
  runner->KillAll("WorkerStopped");
  // In-flight Exec calls end as the killed processes exit; the service must be drained before
  // the runner it calls into goes away.
  http.reset();
  grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  stop = true;
  agent->Wake();
  loop.join();
  health.reset();          // before the runner its checks run through
  runner.reset();          // waits for the jobs' processes; each exit is queued as a report
  agent->FlushReports();   // best effort: loomd also learns from the node going silent
  return 0;
}
