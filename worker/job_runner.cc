#include "worker/job_runner.h"
#include "worker/job_runner_internal.h"

#include <fcntl.h>
#include <poll.h>
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
using internal::LogPath;
using internal::Merge;
using internal::NowMs;

namespace {

// How long past a kill's grace the worker waits for a supervisor before SIGKILLing it.
constexpr int64_t kFailsafeMs = 5000;

}  // namespace

namespace internal {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string LogPath(const std::string& dir, int rank, bool err) {
  return dir + "/rank-" + std::to_string(rank) + (err ? ".err" : ".out");
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

std::string MpiSessionDir(const std::string& attempt_dir) { return attempt_dir + "/mpi"; }

void SetMpiSessionBase(EnvMap& env, const v1::JobSpec& spec, const std::string& attempt_dir) {
  if (!spec.env().contains("TMPDIR")) env["TMPDIR"] = MpiSessionDir(attempt_dir);
}

}  // namespace internal

JobRunner::JobRunner(RunnerOptions options, ExitCallback on_exit)
    : options_(std::move(options)), on_exit_(std::move(on_exit)) {
  reaper_ = std::thread([this] { ReapLoop(); });
  monitor_ = std::thread([this] { MonitorLoop(); });
}

JobRunner::~JobRunner() {
  KillAll("WorkerStopped");
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Give the processes their grace period, then the supervisors' SIGKILL, to go away.
    cv_.wait_for(lock, std::chrono::milliseconds(options_.kill_grace_ms + kFailsafeMs + 2000),
                 [&] { return live_children_ == 0 && jobs_.empty(); });
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
  const AttemptKey key{spec.id(), LaunchAttempt(spec)};
  std::function<void()> before;
  {
    std::lock_guard<std::mutex> lock(mu_);
    before = before_launch_;
  }
  if (before) before();  // outside mu_: a lost lease kills jobs, which takes mu_
  std::lock_guard<std::mutex> lock(mu_);
  if (jobs_.count(key)) {
    fence_.Note(launch.registration(), launch.launch_seq());
    return Status::Ok();
  }
  if (Status s = fence_.Admit(launch.registration(), launch.launch_seq()); !s.ok()) {
    return FailedPrecondition("job " + std::to_string(spec.id()) + " attempt " + std::to_string(key.attempt) +
                              ": " + s.message());
  }
  if (const Job* other = FindJob(spec.id())) {
    // Never two attempts at once: loomd must wait until the older one's ranks are gone.
    return FailedPrecondition("job " + std::to_string(spec.id()) + " attempt " +
                              std::to_string(other->key.attempt) + " still runs on this node");
  }
  Job job;
  job.key = key;
  job.launch = launch;
  job.dir = options_.state_dir + "/jobs/" + std::to_string(spec.id());
  job.attempt_dir = job.dir + "/attempt-" + std::to_string(key.attempt);
  std::error_code ec;
  std::filesystem::remove_all(job.attempt_dir, ec);  // what a launch that failed here left
  std::filesystem::create_directories(job.attempt_dir, ec);
  if (ec) return Internal("cannot create " + job.attempt_dir + ": " + ec.message());
  if (Status s = ResolveAccount(job); !s.ok()) return s;
  if (job.switch_user && (chown(job.dir.c_str(), job.uid, job.gid) != 0 || chmod(job.dir.c_str(), 0700) != 0)) {
    return Internal("cannot give " + job.dir + " to " + job.user + ": " + std::strerror(errno));
  }
  if (spec.spec().mpi()) {  // Open MPI's session files; the attempt's own files stay root's
    const std::string mpi_dir = internal::MpiSessionDir(job.attempt_dir);
    std::filesystem::create_directories(mpi_dir, ec);
    if (ec || (job.switch_user && chown(mpi_dir.c_str(), job.uid, job.gid) != 0)) {
      std::filesystem::remove_all(job.attempt_dir, ec);
      return Internal("cannot make " + mpi_dir + " for " + (job.switch_user ? job.user : "the job"));
    }
  }
  job.attach_only = spec.spec().mpi() && launch.node_index() != 0;
  std::string launch_bytes;
  job.launch.SerializeToString(&launch_bytes);
  // First: a restarted worker rebuilds the attempt from it (a non-head MPI node's daemons too).
  Status s = WriteFileAtomically(job.attempt_dir + "/launch.pb", launch_bytes, /*sync=*/false);
  if (s.ok() && !job.attach_only) s = StartSupervisor(job);
  if (!s.ok()) {
    std::filesystem::remove_all(job.attempt_dir, ec);
    return s;
  }
  jobs_.emplace(key, std::move(job));
  return Status::Ok();
}

StatusOr<SupervisorSpec> JobRunner::BuildSpec(Job& job) const {
  const v1::Job& spec = job.launch.job();
  SupervisorSpec out;
  const auto base = BaseEnvironment(CurrentEnvironment());  // no secrets of the worker's
  const std::string workdir = spec.spec().workdir().empty() ? job.dir : spec.spec().workdir();
  job.rank_gpus.clear();
  if (spec.spec().mpi()) {
    // mpirun on the head node, with the allocation as its host list and loom-launch-agent as its
    // remote-start command: Open MPI starts its daemons through the workers, as it does under
    // Slurm, and no ssh is needed.
    // Slots per host are the tasks per node (one per GPU by default).
    const TaskLayout layout = NodeLayout(job.launch);
    std::string hosts, addresses;
    for (int i = 0; i < spec.allocation_size(); ++i) {
      const auto& a = spec.allocation(i);
      hosts += (i ? "," : "") + a.node() + ":" + std::to_string(layout.tasks_per_node);
      addresses += (i ? "," : "") + a.node() + "=" + job.launch.nodes(i).address();
    }
    RankSpec r;
    r.argv = {"mpirun", "-np", std::to_string(layout.tasks()), "--host", hosts,
              "--mca", "plm_rsh_agent", options_.launch_agent, "--bind-to", "none"};
    r.argv.insert(r.argv.end(), options_.mpirun_args.begin(), options_.mpirun_args.end());
    r.argv.insert(r.argv.end(), spec.spec().command().begin(), spec.spec().command().end());
    EnvMap env = NodeEnv(job.launch);
    env["LOOM_NODE_ADDRS"] = addresses;
    internal::SetMpiSessionBase(env, spec.spec(), job.attempt_dir);
    r.env = Merge(base, env);
    r.stdout_path = LogPath(job.dir, 0, false);
    r.stderr_path = LogPath(job.dir, 0, true);
    out.ranks.push_back(std::move(r));
    job.rank_gpus.push_back(-1);
  } else {
    const TaskLayout layout = NodeLayout(job.launch);
    for (int local = 0; local < layout.tasks_per_node; ++local) {
      EnvMap env = RankEnv(job.launch, local);
      const int rank = std::stoi(env["RANK"]);
      RankSpec r;
      r.argv.assign(spec.spec().command().begin(), spec.spec().command().end());
      r.env = Merge(base, env);
      r.stdout_path = LogPath(job.dir, rank, false);
      r.stderr_path = LogPath(job.dir, rank, true);
      out.ranks.push_back(std::move(r));
      // A task driving several GPUs (launcher mode) has its busy time measured over its process
      // tree and shared among the node's GPUs, as an MPI job's is.
      job.rank_gpus.push_back(layout.gpus_per_task() == 1 ? spec.allocation(job.launch.node_index()).gpu_indices(local) : -1);
    }
  }
  for (RankSpec& r : out.ranks) {
    r.workdir = workdir;
    // A missing program is the launch's error, answered now rather than as an exit code later.
    LOOM_ASSIGN_OR_RETURN(std::string program, FindProgram(r.argv.empty() ? "" : r.argv[0]));
    (void)program;
    if (job.switch_user) {
      r.env["USER"] = r.env["LOGNAME"] = job.user;
      r.env["HOME"] = job.home;
    }
  }
  out.switch_user = job.switch_user;  // the supervisor (root) drops to the tenant's account per rank
  out.uid = job.uid;
  out.gid = job.gid;
  out.lease_file = options_.lease_file;
  out.plan.ranks = static_cast<int>(out.ranks.size());
  out.plan.time_limit_ms = spec.spec().time_limit_s() * 1000;
  out.plan.signal = spec.spec().signal();
  out.plan.signal_before_ms = spec.spec().signal_before_s() * 1000;
  out.plan.grace_ms = spec.spec().grace_s() > 0 ? spec.spec().grace_s() * 1000 : options_.kill_grace_ms;
  return out;
}

Status JobRunner::StartSupervisor(Job& job) {
  LOOM_ASSIGN_OR_RETURN(SupervisorSpec spec, BuildSpec(job));
  LOOM_ASSIGN_OR_RETURN(job.supervisor, SpawnSupervisor(job.key, job.attempt_dir, spec));
  return Status::Ok();
}

StatusOr<Supervised> JobRunner::SpawnSupervisor(const AttemptKey& key, const std::string& dir,
                                                const SupervisorSpec& spec) {
  // The spec goes in on stdin, from memory: files created per attempt are what starting one
  // costs most (each is an inode to allocate and, later, to free).
  LOOM_ASSIGN_OR_RETURN(int spec_fd, MemoryFile("loom-supervisor-spec", EncodeSpec(spec)));
  SpawnSpec s;
  s.argv = {options_.supervisor, dir};
  s.env = CurrentEnvironment();
  s.workdir = dir;
  s.stdin_fd = spec_fd;
  s.stdout_path = s.stderr_path = "/dev/null";  // it writes its own log, supervisor.log, if it has to
  s.own_session = true;  // outlives this worker
  StatusOr<pid_t> spawned = spawner_.Spawn(s);
  close(spec_fd);
  LOOM_ASSIGN_OR_RETURN(pid_t pid, std::move(spawned));
  pid_to_job_[pid] = key;
  ++live_children_;
  ++spawned_;
  cv_.notify_all();
  return Supervised{pid, ProcessStartTime(pid)};
}

Status JobRunner::ResolveAccount(Job& job) const {
  if (options_.run_as.empty()) {
    if (!options_.refuse_unmapped) return Status::Ok();
    return FailedPrecondition("this worker runs as root and maps no tenant to a Unix account, so it runs no ranks "
                              "(loom-worker --run-as TENANT=USER; --allow-root-ranks on a single-user machine)");
  }
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

JobRunner::Job* JobRunner::FindJob(int64_t job_id) {
  auto it = jobs_.lower_bound(AttemptKey{job_id, 0});
  return it != jobs_.end() && it->first.job_id == job_id ? &it->second : nullptr;
}

int64_t JobRunner::GraceMs(const Job& job) const {
  const int64_t spec_grace_s = job.launch.job().spec().grace_s();
  return spec_grace_s > 0 ? spec_grace_s * 1000 : options_.kill_grace_ms;
}

void JobRunner::BeginKill(Job& job, const std::string& reason, int64_t now_ms, int64_t grace_ms) {
  if (job.kill_reason.empty()) job.kill_reason = reason.empty() ? "Killed" : reason;
  if (job.failsafe_at_ms != 0) return;
  const int64_t grace = grace_ms > 0 ? grace_ms : GraceMs(job);
  // Each supervisor signals its ranks and escalates; the file says why and how long to wait.
  if (job.supervisor.pid != 0) RequestKill(job.attempt_dir, job.supervisor, grace, job.kill_reason);
  for (const ExecRun& e : job.execs) {
    if (!e.done) RequestKill(e.dir, e.supervisor, grace, job.kill_reason);
  }
  job.failsafe_at_ms = now_ms + grace + kFailsafeMs;
}

void JobRunner::Kill(int64_t job_id, int attempt, const std::string& reason, int64_t grace_ms) {
  std::vector<Finished> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Job* job = FindJob(job_id);
    if (!job || (attempt != 0 && job->key.attempt != attempt)) return;  // a newer attempt stays
    const AttemptKey key = job->key;
    BeginKill(*job, reason, NowMs(), grace_ms);
    MaybeFinish(key, finished);  // a non-head MPI node with no live daemons ends now
  }
  Deliver(finished);
}

void JobRunner::KillAll(const std::string& reason) {
  for (const AttemptKey& key : Running()) Kill(key.job_id, key.attempt, reason);
}

std::vector<AttemptKey> JobRunner::BeginRegistration(uint64_t registration) {
  std::lock_guard<std::mutex> lock(mu_);
  fence_.Begin(registration);
  return KeysLocked();
}

void JobRunner::DropRegistration() {
  std::lock_guard<std::mutex> lock(mu_);
  fence_.Drop();
}

void JobRunner::ApplyLaunchFence(uint64_t registration, uint64_t fence) {
  std::lock_guard<std::mutex> lock(mu_);
  fence_.ApplyFence(registration, fence);
}

void JobRunner::set_before_launch(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  before_launch_ = std::move(hook);
}

std::vector<AttemptKey> JobRunner::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return KeysLocked();
}

std::vector<AttemptKey> JobRunner::Running(uint64_t* launch_mark) const {
  std::lock_guard<std::mutex> lock(mu_);
  *launch_mark = fence_.mark();
  return KeysLocked();
}

std::vector<AttemptKey> JobRunner::KeysLocked() const {
  std::vector<AttemptKey> keys;
  for (const auto& [key, job] : jobs_) keys.push_back(key);
  return keys;
}

StatusOr<v1::ReadLogReply> JobRunner::ReadLog(const v1::ReadLogRequest& request) const {
  constexpr int64_t kDefaultChunk = 1 << 20, kMaxChunk = 4 << 20;
  const std::string path = LogPath(options_.state_dir + "/jobs/" + std::to_string(request.job_id()),
                                   request.rank(), request.stderr());
  bool running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.lower_bound(AttemptKey{request.job_id(), 0});
    running = it != jobs_.end() && it->first.job_id == request.job_id();
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
    std::vector<Finished> finished;
    {
      std::lock_guard<std::mutex> lock(mu_);
      OnProcessExit(pid, status, finished);
    }
    Deliver(finished);
  }
}

void JobRunner::OnProcessExit(pid_t pid, int status, std::vector<Finished>& finished) {
  --live_children_;
  // Recorded for RunCommand, which waits for this pid.
  if (command_pids_.count(pid) != 0) command_status_[pid] = ExitCode(status);
  cv_.notify_all();
  auto owner = pid_to_job_.find(pid);
  if (owner == pid_to_job_.end()) return;
  const AttemptKey key = owner->second;
  pid_to_job_.erase(owner);
  auto it = jobs_.find(key);
  if (it == jobs_.end()) return;
  Job& job = it->second;
  if (pid == job.supervisor.pid) {
    PollSupervisor(job, finished);  // reaped, so gone: its result now
    return;
  }
  PollExecs(job);  // an exec's supervisor
  MaybeFinish(key, finished);
}

// Only a non-head MPI node ends here (when its daemons are gone after a kill); a supervised
// attempt ends with its supervisor's result.
bool JobRunner::MaybeFinish(const AttemptKey& key, std::vector<Finished>& finished) {
  auto it = jobs_.find(key);
  if (it == jobs_.end()) return false;
  Job& job = it->second;
  if (!job.attach_only || job.kill_reason.empty()) return false;  // waits for mpirun's daemons or a kill
  for (const ExecRun& e : job.execs) {
    if (!e.done) return false;
  }
  JobExit exit{key.job_id, key.attempt, 0, 0, job.kill_reason};
  if (exit.reason == "Killed") exit.exit_code = 143;
  Finish(job, std::move(exit), finished);
  return true;
}

void JobRunner::Finish(Job& job, JobExit exit, std::vector<Finished>& finished) {
  KillExecSupervisors(job);  // an orted outliving mpirun goes with the attempt
  finished.push_back({std::move(exit), job.attempt_dir});
  jobs_.erase(job.key);  // `job` is gone from here on
  cv_.notify_all();
}

void JobRunner::KillExecSupervisors(const Job& job) {
  for (const ExecRun& e : job.execs) {
    if (!e.done && !e.supervisor.Gone()) kill(e.supervisor.pid, SIGKILL);
  }
}

void JobRunner::MonitorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    const int64_t now = NowMs();
    std::vector<Finished> finished;
    std::vector<AttemptKey> keys;
    for (const auto& [key, job] : jobs_) keys.push_back(key);
    for (const AttemptKey& key : keys) {
      auto it = jobs_.find(key);
      if (it == jobs_.end()) continue;
      Job& job = it->second;
      if (PollSupervisor(job, finished)) continue;
      // Adopted execs' supervisors are not this worker's children: no SIGCHLD tells of their end.
      if (PollExecs(job)) {
        cv_.notify_all();
        if (MaybeFinish(key, finished)) continue;
      }
      if (job.failsafe_at_ms > 0 && now >= job.failsafe_at_ms) {
        // Supervisors that did not end their ranks in time (stopped, stuck): the ranks die with them.
        if (job.supervisor.pid != 0 && !job.supervisor.Gone()) kill(job.supervisor.pid, SIGKILL);
        KillExecSupervisors(job);
        job.failsafe_at_ms = now + kFailsafeMs;
      }
    }
    if (!finished.empty()) {
      lock.unlock();
      Deliver(finished);
      lock.lock();
    }
  }
}

void JobRunner::Deliver(const std::vector<Finished>& finished) {
  for (const Finished& f : finished) {
    on_exit_(f.exit);  // the agent has the report on disk when this returns
    std::error_code ec;
    if (!f.attempt_dir.empty()) std::filesystem::remove_all(f.attempt_dir, ec);
  }
}

}  // namespace loom::worker
