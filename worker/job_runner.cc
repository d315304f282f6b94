#include "worker/job_runner.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/process.h"
#include "common/tls/tls.h"
#include "worker/rank_env.h"

namespace loom::worker {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string LogPath(const std::string& dir, int rank, bool err) {
  return dir + "/rank-" + std::to_string(rank) + (err ? ".err" : ".out");
}

// utime + stime of a process, in clock ticks; 0 if it is gone.
uint64_t CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // Fields after the command name, which is in parentheses and may hold spaces.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt (fields 3..13)
  uint64_t utime = 0, stime = 0;
  fields >> utime >> stime;
  return utime + stime;
}

// Every process's children, from /proc (ranks of MPI jobs are started by mpirun and orted, not
// by the worker).
std::multimap<pid_t, pid_t> ChildrenOfAll() {
  std::multimap<pid_t, pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t parent = 0;
    if (fields >> state >> parent) children.emplace(parent, static_cast<pid_t>(std::stol(name)));
  }
  return children;
}

// CPU ticks of `root` and all its descendants now alive.
uint64_t TreeCpuTicks(pid_t root, const std::multimap<pid_t, pid_t>& children) {
  uint64_t ticks = 0;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    const pid_t pid = todo.back();
    todo.pop_back();
    ticks += CpuTicks(pid);
    for (auto [it, end] = children.equal_range(pid); it != end; ++it) todo.push_back(it->second);
  }
  return ticks;
}

std::map<std::string, std::string> Merge(std::map<std::string, std::string> base, const EnvMap& over) {
  for (const auto& [k, v] : over) base[k] = v;
  if (geteuid() == 0) {  // Open MPI refuses root unless told; workers commonly run as root
    // (harmless for a job switched to its tenant's account, which is not root)
    base["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
    base["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
  }
  return base;
}

}  // namespace

JobRunner::JobRunner(RunnerOptions options, ExitCallback on_exit)
    : options_(std::move(options)), on_exit_(std::move(on_exit)) {
  reaper_ = std::thread([this] { ReapLoop(); });
  monitor_ = std::thread([this] { MonitorLoop(); });
}

JobRunner::~JobRunner() {
  KillAll("WorkerStopped");
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Give the processes their grace period, then the monitor's SIGKILL, to go away.
    cv_.wait_for(lock, std::chrono::milliseconds(options_.kill_grace_ms + 2000),
                 [&] { return live_children_ == 0; });
    stopping_ = true;
    cv_.notify_all();
  }
  monitor_.join();
  // The reaper blocks in waitpid while children live; with none left it is waiting on cv_.
  reaper_.join();
}

Status JobRunner::Launch(const v1::LaunchRequest& launch) {
  const v1::Job& spec = launch.job();
  if (launch.node_index() < 0 || launch.node_index() >= spec.allocation_size() ||
      launch.nodes_size() != spec.allocation_size()) {
    return InvalidArgument("launch request has no allocation for this node");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (jobs_.count(spec.id())) return Status::Ok();
  Job job;
  job.launch = launch;
  job.dir = options_.state_dir + "/jobs/" + std::to_string(spec.id());
  std::error_code ec;
  std::filesystem::create_directories(job.dir, ec);
  if (ec) return Internal("cannot create " + job.dir + ": " + ec.message());
  if (Status s = ResolveAccount(job); !s.ok()) return s;
  if (job.switch_user && (chown(job.dir.c_str(), job.uid, job.gid) != 0 || chmod(job.dir.c_str(), 0700) != 0)) {
    return Internal("cannot give " + job.dir + " to " + job.user + ": " + std::strerror(errno));
  }
  if (spec.spec().time_limit_s() > 0) job.deadline_ms = NowMs() + spec.spec().time_limit_s() * 1000;
  Status s;
  if (spec.spec().mpi()) {
    job.attach_only = launch.node_index() != 0;
    s = job.attach_only ? Status::Ok() : StartMpirun(job);
  } else {
    s = StartRanks(job);
  }
  if (!s.ok()) {
    SignalJob(job, SIGKILL);  // ranks already started must not outlive a failed launch
    for (const Proc& p : job.procs) pid_to_job_.erase(p.pid);
    return s;
  }
  jobs_.emplace(spec.id(), std::move(job));
  return Status::Ok();
}

Status JobRunner::ResolveAccount(Job& job) const {
  if (options_.run_as.empty()) return Status::Ok();
  const std::string& tenant = job.launch.job().spec().tenant();
  auto it = options_.run_as.find(tenant);
  if (it == options_.run_as.end()) it = options_.run_as.find("*");
  if (it == options_.run_as.end()) {
    return FailedPrecondition("tenant '" + tenant + "' has no Unix account on this node (loom-worker --run-as " +
                              tenant + "=USER)");
  }
  std::vector<char> buf(16384);
  passwd pw {};
  passwd* found = nullptr;
  if (getpwnam_r(it->second.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return FailedPrecondition("tenant '" + tenant + "' maps to Unix account '" + it->second + "', which does not exist here");
  }
  job.switch_user = true;
  job.uid = pw.pw_uid;
  job.gid = pw.pw_gid;
  job.user = pw.pw_name;
  job.home = pw.pw_dir;
  return Status::Ok();
}

StatusOr<pid_t> JobRunner::SpawnInJob(Job& job, std::vector<std::string> argv,
                                      std::map<std::string, std::string> env, const std::string& out,
                                      const std::string& err, int out_fd, int err_fd) {
  SpawnSpec spec;
  spec.argv = std::move(argv);
  spec.env = std::move(env);
  spec.workdir = job.launch.job().spec().workdir().empty() ? job.dir : job.launch.job().spec().workdir();
  spec.stdout_path = out;
  spec.stderr_path = err;
  spec.stdout_fd = out_fd;
  spec.stderr_fd = err_fd;
  spec.process_group = job.process_group;
  if (job.switch_user) {
    spec.switch_user = true;
    spec.uid = job.uid;
    spec.gid = job.gid;
    spec.env["USER"] = spec.env["LOGNAME"] = job.user;
    spec.env["HOME"] = job.home;
  }
  LOOM_ASSIGN_OR_RETURN(pid_t pid, spawner_.Spawn(spec));
  pid_t group = getpgid(pid);
  if (job.process_group == 0 || group != job.process_group) job.process_group = group > 0 ? group : pid;
  pid_to_job_[pid] = job.launch.job().id();
  ++live_children_;
  ++spawned_;
  cv_.notify_all();
  return pid;
}

Status JobRunner::StartRanks(Job& job) {
  const v1::Job& spec = job.launch.job();
  const auto& gpus = spec.allocation(job.launch.node_index()).gpu_indices();
  const auto base = BaseEnvironment(CurrentEnvironment());
  for (int local = 0; local < gpus.size(); ++local) {
    EnvMap env = RankEnv(job.launch, local);
    const int rank = std::stoi(env["RANK"]);
    std::vector<std::string> argv(spec.spec().command().begin(), spec.spec().command().end());
    auto pid = SpawnInJob(job, std::move(argv), Merge(base, env), LogPath(job.dir, rank, false),
                          LogPath(job.dir, rank, true), -1, -1);
    if (!pid.ok()) return pid.status();
    job.procs.push_back({*pid, gpus[local], false, true, 0});
  }
  return Status::Ok();
}

// mpirun on the head node, with the allocation as its host list and loom-launch-agent as its
// remote-start command: Open MPI starts its daemons through the workers, as it does under Slurm,
// and no ssh is needed.
Status JobRunner::StartMpirun(Job& job) {
  const v1::Job& spec = job.launch.job();
  std::string hosts, addresses;
  for (int i = 0; i < spec.allocation_size(); ++i) {
    const auto& a = spec.allocation(i);
    hosts += (i ? "," : "") + a.node() + ":" + std::to_string(a.gpu_indices_size());
    addresses += (i ? "," : "") + a.node() + "=" + job.launch.nodes(i).address();
  }
  std::vector<std::string> argv = {"mpirun", "-np", std::to_string(spec.spec().gpus()), "--host", hosts,
                                   "--mca", "plm_rsh_agent", options_.launch_agent,
                                   "--bind-to", "none"};
  argv.insert(argv.end(), options_.mpirun_args.begin(), options_.mpirun_args.end());
  argv.insert(argv.end(), spec.spec().command().begin(), spec.spec().command().end());
  EnvMap env = NodeEnv(job.launch);
  env["LOOM_NODE_ADDRS"] = addresses;
  auto pid = SpawnInJob(job, std::move(argv), Merge(BaseEnvironment(CurrentEnvironment()), env), LogPath(job.dir, 0, false),
                        LogPath(job.dir, 0, true), -1, -1);
  if (!pid.ok()) return pid.status();
  job.procs.push_back({*pid, -1, false, true, 0});
  return Status::Ok();
}

StatusOr<JobRunner::Exec> JobRunner::StartExec(int64_t job_id, const std::string& job_token,
                                               const std::string& command) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  // One answer for "not here" and "wrong credential": a caller learns nothing by guessing ids.
  if (it == jobs_.end() || it->second.launch.job_token().empty() ||
      !tls::SecretEquals(job_token, it->second.launch.job_token())) {
    return PermissionDenied("exec needs the credential of job " + std::to_string(job_id) +
                            "'s attempt running on this node");
  }
  Job& job = it->second;
  if (!job.kill_reason.empty()) return FailedPrecondition("job " + std::to_string(job_id) + " is being killed");
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  auto pid = SpawnInJob(job, {"/bin/sh", "-c", command}, Merge(BaseEnvironment(CurrentEnvironment()), NodeEnv(job.launch)),
                        "", "", out[1], err[1]);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(out[0]);
    close(err[0]);
    return pid.status();
  }
  job.procs.push_back({*pid, -1, true, true, 0});
  exec_pids_.insert(*pid);
  return Exec{*pid, out[0], err[0]};
}

int JobRunner::WaitExec(pid_t pid) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return exec_status_.count(pid) != 0 || stopping_; });
  auto it = exec_status_.find(pid);
  int code = it == exec_status_.end() ? 137 : it->second;
  exec_status_.erase(pid);
  exec_pids_.erase(pid);
  return code;
}

void JobRunner::SignalJob(const Job& job, int sig) const {
  std::set<pid_t> groups;
  for (const Proc& p : job.procs) {
    if (!p.alive) continue;
    pid_t g = getpgid(p.pid);
    if (g > 0) groups.insert(g);
    kill(p.pid, sig);
  }
  if (job.process_group > 0) groups.insert(job.process_group);
  for (pid_t g : groups) kill(-g, sig);  // the ranks' own children too
}

void JobRunner::BeginKill(Job& job, const std::string& reason, int64_t now_ms) {
  if (job.kill_reason.empty()) job.kill_reason = reason.empty() ? "Killed" : reason;
  if (job.sigkill_at_ms == 0) {
    SignalJob(job, SIGTERM);
    job.sigkill_at_ms = now_ms + options_.kill_grace_ms;
  }
}

void JobRunner::Kill(int64_t job_id, const std::string& reason) {
  std::vector<JobExit> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    BeginKill(it->second, reason, NowMs());
    MaybeFinish(job_id, finished);  // a job with no live processes ends now
  }
  Deliver(finished);
}

void JobRunner::KillAll(const std::string& reason) {
  std::vector<int64_t> ids = Running();
  for (int64_t id : ids) Kill(id, reason);
}

std::vector<int64_t> JobRunner::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> ids;
  for (const auto& [id, job] : jobs_) ids.push_back(id);
  return ids;
}

StatusOr<v1::ReadLogReply> JobRunner::ReadLog(const v1::ReadLogRequest& request) const {
  constexpr int64_t kDefaultChunk = 1 << 20, kMaxChunk = 4 << 20;
  const std::string path = LogPath(options_.state_dir + "/jobs/" + std::to_string(request.job_id()),
                                   request.rank(), request.stderr());
  bool running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = jobs_.count(request.job_id()) != 0;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return NotFound("no output for rank " + std::to_string(request.rank()) + " of job " +
                    std::to_string(request.job_id()) + " on this node");
  }
  int64_t want = request.max_bytes() > 0 ? std::min(request.max_bytes(), kMaxChunk) : kDefaultChunk;
  std::string data(static_cast<size_t>(want), '\0');
  ssize_t n = pread(fd, data.data(), data.size(), std::max<int64_t>(request.offset(), 0));
  struct stat st {};
  fstat(fd, &st);
  close(fd);
  if (n < 0) return Internal("cannot read " + path + ": " + std::strerror(errno));
  data.resize(static_cast<size_t>(n));
  v1::ReadLogReply reply;
  reply.set_next_offset(std::max<int64_t>(request.offset(), 0) + n);
  reply.set_eof(!running && reply.next_offset() >= st.st_size);
  reply.set_data(std::move(data));
  return reply;
}

std::vector<double> JobRunner::Utilization(int gpu_count) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  const double elapsed_ticks = (now - last_utilization_ms_) / 1000.0 * sysconf(_SC_CLK_TCK);
  std::vector<double> busy(static_cast<size_t>(std::max(gpu_count, 0)), 0.0);
  std::multimap<pid_t, pid_t> children;  // read once, only if an MPI job needs it
  for (auto& [id, job] : jobs_) {
    bool per_gpu = false;
    for (Proc& p : job.procs) {
      if (!p.alive || p.gpu < 0) continue;
      per_gpu = true;
      uint64_t ticks = CpuTicks(p.pid);
      if (last_utilization_ms_ > 0 && p.gpu < gpu_count && elapsed_ticks > 0 && ticks >= p.cpu_ticks) {
        busy[p.gpu] = std::min(1.0, (ticks - p.cpu_ticks) / elapsed_ticks);
      }
      p.cpu_ticks = ticks;
    }
    if (per_gpu) continue;
    // An MPI job: its ranks here descend from mpirun or an orted; their CPU time is shared evenly
    // among the job's GPUs on this node.
    if (children.empty()) children = ChildrenOfAll();
    uint64_t ticks = 0;
    for (const Proc& p : job.procs) {
      if (p.alive) ticks += TreeCpuTicks(p.pid, children);
    }
    const auto& gpus = job.launch.job().allocation(job.launch.node_index()).gpu_indices();
    if (last_utilization_ms_ > 0 && elapsed_ticks > 0 && ticks >= job.tree_cpu_ticks && !gpus.empty()) {
      const double share = std::min(1.0, (ticks - job.tree_cpu_ticks) / elapsed_ticks / gpus.size());
      for (int g : gpus) {
        if (g >= 0 && g < gpu_count) busy[g] = share;
      }
    }
    job.tree_cpu_ticks = ticks;
  }
  last_utilization_ms_ = now;
  return busy;
}

void JobRunner::ReapLoop() {
  for (;;) {
    uint64_t spawned_before;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return live_children_ > 0 || stopping_; });
      if (live_children_ == 0 && stopping_) return;
      spawned_before = spawned_;
    }
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      // ECHILD: nothing to wait for, unless a process was started since waitpid was called.
      std::lock_guard<std::mutex> lock(mu_);
      if (spawned_ == spawned_before) live_children_ = 0;
      cv_.notify_all();
      continue;
    }
    std::vector<JobExit> finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      OnProcessExit(pid, status, finished);
    }
    Deliver(finished);
  }
}

void JobRunner::OnProcessExit(pid_t pid, int status, std::vector<JobExit>& finished) {
  --live_children_;
  const int code = ExitCode(status);
  const bool is_exec = exec_pids_.count(pid) != 0;
  // Recorded even when the job already ended: Exec's caller is waiting for this pid.
  if (is_exec) exec_status_[pid] = code;
  cv_.notify_all();
  auto owner = pid_to_job_.find(pid);
  if (owner == pid_to_job_.end()) return;
  const int64_t job_id = owner->second;
  pid_to_job_.erase(owner);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  for (Proc& p : job.procs) {
    if (p.pid == pid) p.alive = false;
  }
  if (job.attach_only) {
    MaybeFinish(job_id, finished);
    return;
  }
  if (!is_exec && code != 0 && job.first_error == 0) {
    job.first_error = code;
    // One failed rank fails the job: stop its siblings instead of leaving them in a collective.
    if (job.kill_reason.empty()) {
      SignalJob(job, SIGTERM);
      job.sigkill_at_ms = NowMs() + options_.kill_grace_ms;
    }
  }
  MaybeFinish(job_id, finished);
}

bool JobRunner::MaybeFinish(int64_t job_id, std::vector<JobExit>& finished) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return false;
  Job& job = it->second;
  // Exec'd daemons belong to mpirun; the node's part ends with its own ranks, or on a kill.
  bool alive = false;
  for (const Proc& p : job.procs) alive |= p.alive && (!p.exec || job.attach_only || !job.kill_reason.empty());
  if (alive) return false;
  if (job.attach_only && job.kill_reason.empty()) return false;  // waits for mpirun's daemons or a kill
  JobExit exit{job_id, job.first_error, job.kill_reason};
  if (exit.reason == "Killed" && exit.exit_code == 0) exit.exit_code = 143;
  // Exec'd daemons still alive after the job's end (an orted outliving mpirun) go with it.
  if (std::any_of(job.procs.begin(), job.procs.end(), [](const Proc& p) { return p.alive; })) {
    SignalJob(job, SIGKILL);
  }
  jobs_.erase(it);
  finished.push_back(std::move(exit));
  return true;
}

void JobRunner::MonitorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    const int64_t now = NowMs();
    for (auto& [id, job] : jobs_) {
      if (job.sigkill_at_ms > 0 && now >= job.sigkill_at_ms) {
        SignalJob(job, SIGKILL);
        job.sigkill_at_ms = now + options_.kill_grace_ms;  // again later if something survived
      } else if (job.deadline_ms > 0 && now >= job.deadline_ms && job.kill_reason.empty()) {
        BeginKill(job, "TimeLimit", now);
      }
    }
  }
}

void JobRunner::Deliver(const std::vector<JobExit>& finished) {
  for (const JobExit& e : finished) on_exit_(e);
}

}  // namespace loom::worker
