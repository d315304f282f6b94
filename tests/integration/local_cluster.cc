#include "tests/integration/local_cluster.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/mpi_loopback.h"
#include "common/paths.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/process.h"
#include "scheduler/auth/token_store.h"
#include "common/tls/certs.h"
#include "common/tls/tls.h"

namespace loom::testing {
std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

void Reap(pid_t pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  int status;
  waitpid(pid, &status, 0);
}

// Polls `done` every few milliseconds until it holds or `timeout` passes.
template <typename F>
bool PollUntil(F done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

}  // namespace

bool WaitForFile(const std::string& path, std::chrono::seconds timeout) {
  return PollUntil([&] { return !ReadFile(path).empty(); }, timeout);
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds timeout) {
  return PollUntil(done, timeout);
}

bool ProcessAlive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::unique_ptr<v1::Scheduler::Stub> SchedulerStub(const std::string& address, const std::string& certs_dir,
                                                   const std::string& stem, const std::string& token) {
  if (certs_dir.empty()) return v1::Scheduler::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto security = tls::Security::Load(certs_dir, stem);
  if (!security.ok()) ADD_FAILURE() << security.status().ToString();
  return v1::Scheduler::NewStub(security.ok() ? security->Dial(address, tls::kLoomdServerName, token)
                                              : grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

std::string LocalCluster::CreateToken(const std::string& tenant, bool admin, int64_t expires_ms) {
  auto tokens = auth::TokenStore::Open(auth::TokensFile(home_));
  if (!tokens.ok()) {
    ADD_FAILURE() << tokens.status().ToString();
    return "";
  }
  auto made = (*tokens)->Create(tenant, admin, SystemClock().NowMs(), expires_ms);
  if (!made.ok()) ADD_FAILURE() << made.status().ToString();
  return made.ok() ? made->second : "";
}

LocalCluster::LocalCluster(Options options) : options_(options) {
  // Supervisors of killed workers are re-parented here rather than to init, so that they can be
  // found and ended with the cluster.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  char tmpl[] = "/tmp/loom-it-XXXXXX";
  home_ = mkdtemp(tmpl) ? tmpl : "/tmp/loom-it-fallback";
  workers_.assign(static_cast<size_t>(options_.workers), 0);
  if (!options_.insecure) {
    std::vector<std::string> nodes;
    for (int i = 0; i < options_.workers; ++i) nodes.push_back("node-" + std::to_string(i + 1));
    Status s = tls::InitCertificates(certs_dir(), nodes);
    if (!s.ok()) ADD_FAILURE() << "certificates: " << s.ToString();
    s = cli::EnsureLocalAdminToken(home_);  // what `loom up` does: the CLI and stub() are admin
    if (!s.ok()) ADD_FAILURE() << "admin token: " << s.ToString();
    admin_token_ = ReadFile(TokenFile(home_));
    admin_token_ = admin_token_.substr(0, admin_token_.find('\n'));
  }
}

std::string LocalCluster::certs_dir() const { return tls::CertsDir(home_); }

LocalCluster::~LocalCluster() {
  for (pid_t& w : workers_) {
    if (w > 0) kill(w, SIGCONT);  // a test that failed while a worker was stopped must not hang here
    Reap(w, SIGTERM);  // workers kill their jobs' process groups on SIGTERM
    w = 0;
  }
  Reap(loomd_, SIGKILL);
  // What is left of this cluster are orphaned supervisors (their ranks die with them): the ones
  // whose command line names an attempt folder under this cluster's home.
  for (pid_t orphan : ChildrenOf(getpid())) {
    if (ReadFile("/proc/" + std::to_string(orphan) + "/cmdline").find(home_) != std::string::npos) {
      Reap(orphan, SIGKILL);
    }
  }
  // LOOM_KEEP_TEST_HOME=1 keeps the logs of every process for a post-mortem.
  if (std::getenv("LOOM_KEEP_TEST_HOME") != nullptr) {
    std::fprintf(stderr, "kept %s (LOOM_KEEP_TEST_HOME)\n", home_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(home_, ec);
}

StatusOr<pid_t> LocalCluster::Start(std::vector<std::string> argv, const std::string& log) {
  SpawnSpec spec;
  spec.argv = std::move(argv);
  spec.env = CurrentEnvironment();
  spec.env["LOOM_HOME"] = home_;
  spec.stdout_path = home_ + "/" + log;
  spec.stderr_path = home_ + "/" + log;
  return Spawn(spec);
}

Status LocalCluster::StartLoomd() {
  std::string listen = "127.0.0.1:" + (address_.empty() ? "0" : address_.substr(address_.rfind(':') + 1));
  std::filesystem::remove(AddressFile(home_));
  std::vector<std::string> argv = {std::string(LOOM_BIN_DIR) + "/loomd", "--home", home_, "--listen", listen,
                                   "--heartbeat-ms", std::to_string(options_.heartbeat_ms),
                                   "--node-timeout-ms", std::to_string(options_.node_timeout_ms)};
  if (!options_.policy.empty()) argv.insert(argv.end(), {"--policy", options_.policy});
  if (!options_.policy_config.empty()) argv.insert(argv.end(), {"--policy-config", options_.policy_config});
  if (options_.insecure) argv.push_back("--insecure");
  LOOM_ASSIGN_OR_RETURN(loomd_, Start(std::move(argv), "loomd.log"));
  std::string address;
  PollUntil([&] {
    address = ReadFile(AddressFile(home_));
    return !address.empty() || !ProcessAlive(loomd_);
  }, std::chrono::seconds(10));
  if (address.empty()) return Unavailable("loomd did not start: " + ReadFile(home_ + "/loomd.log"));
  address_ = address.substr(0, address.find('\n'));
  // The test's own view of loomd: as the admin `loom up` would make.
  stub_ = SchedulerStub(address_, options_.insecure ? "" : certs_dir(), "", admin_token_);
  return Status::Ok();
}

Status LocalCluster::StartWorker(int i) {
  std::string name = "node-" + std::to_string(i + 1);
  std::vector<std::string> argv = {std::string(LOOM_BIN_DIR) + "/loom-worker", "--name", name, "--server", address_,
                                   "--emulate-gpus", std::to_string(options_.gpus_per_worker),
                                   "--kill-grace-ms", "1000", "--mpirun-args", kLoopbackMpirunArgs};
  const int64_t lease_ms = options_.node_lease_ms < 0 ? options_.node_timeout_ms : options_.node_lease_ms;
  if (lease_ms > 0) argv.insert(argv.end(), {"--node-lease", std::to_string((lease_ms + 999) / 1000) + "s"});
  if (options_.insecure) argv.push_back("--insecure");
  if (options_.allow_root_ranks) argv.push_back("--allow-root-ranks");
  argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
  LOOM_ASSIGN_OR_RETURN(workers_[static_cast<size_t>(i)], Start(std::move(argv), name + ".log"));
  return Status::Ok();
}

Status LocalCluster::Start() {
  LOOM_RETURN_IF_ERROR(StartLoomd());
  for (int i = 0; i < options_.workers; ++i) LOOM_RETURN_IF_ERROR(StartWorker(i));
  return WaitForNodes(options_.workers, v1::UP);
}

void LocalCluster::KillLoomd(int sig) {
  Reap(loomd_, sig);
  loomd_ = 0;
}

void LocalCluster::SignalWorker(int i, int sig) { kill(workers_[static_cast<size_t>(i)], sig); }

void LocalCluster::KillWorker(int i, int sig) {
  Reap(workers_[static_cast<size_t>(i)], sig);
  workers_[static_cast<size_t>(i)] = 0;
}

CommandResult LocalCluster::Loom(const std::vector<std::string>& args) {
  static int counter = 0;
  const std::string base = home_ + "/cli-" + std::to_string(++counter);
  SpawnSpec spec;
  spec.argv = {std::string(LOOM_BIN_DIR) + "/loom"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = CurrentEnvironment();
  spec.env["LOOM_HOME"] = home_;
  spec.env.erase("LOOM_SERVER");
  if (options_.insecure) spec.env["LOOM_INSECURE"] = "1";
  spec.stdout_path = base + ".out";
  spec.stderr_path = base + ".err";
  CommandResult r;
  auto pid = Spawn(spec);
  if (!pid.ok()) {
    r.err = pid.status().message();
    return r;
  }
  int status = 0;
  waitpid(*pid, &status, 0);
  r.exit_code = ExitCode(status);
  r.out = ReadFile(spec.stdout_path);
  r.err = ReadFile(spec.stderr_path);
  return r;
}

StatusOr<int64_t> LocalCluster::Submit(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = Loom(argv);
  long long id = 0;
  if (r.exit_code != 0 || std::sscanf(r.out.c_str(), "Submitted job %lld", &id) != 1) {
    return Internal("loom submit failed (" + std::to_string(r.exit_code) + "): " + r.err);
  }
  return static_cast<int64_t>(id);
}

StatusOr<v1::Job> LocalCluster::GetJob(int64_t id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetJobRequest req;
  req.set_job_id(id);
  v1::Job job;
  grpc::Status s = stub_->GetJob(&ctx, req, &job);
  if (!s.ok()) return Unavailable(s.error_message());
  return job;
}

StatusOr<v1::Job> LocalCluster::WaitForState(int64_t id, v1::JobState state, std::chrono::milliseconds timeout) {
  v1::Job last;
  bool ok = PollUntil([&] {
    auto job = GetJob(id);
    if (!job.ok()) return false;
    last = *job;
    const bool final = last.state() == v1::COMPLETED || last.state() == v1::FAILED ||
                       last.state() == v1::CANCELLED || last.state() == v1::NODE_FAIL ||
                       last.state() == v1::TIMEOUT;
    return last.state() == state || final;
  }, timeout);
  if (!ok || last.state() != state) {
    return Internal("job " + std::to_string(id) + " is " + v1::JobState_Name(last.state()) + " (" +
                    last.reason() + "), expected " + v1::JobState_Name(state));
  }
  return last;
}

Status LocalCluster::WaitForNodes(int count, v1::NodeState state, std::chrono::milliseconds timeout) {
  int seen = 0;
  bool ok = PollUntil([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::ListNodesReply reply;
    if (!stub_->ListNodes(&ctx, v1::ListNodesRequest(), &reply).ok()) return false;
    seen = 0;
    for (const auto& n : reply.nodes()) seen += n.state() == state;
    return seen == count;
  }, timeout);
  if (ok) return Status::Ok();
  return Unavailable(std::to_string(seen) + " nodes " + v1::NodeState_Name(state) + ", expected " +
                     std::to_string(count) + "; loomd log: " + ReadFile(home_ + "/loomd.log"));
}

std::string LocalCluster::MakeDir(const std::string& name) const {
  std::string dir = home_ + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace loom::testing
