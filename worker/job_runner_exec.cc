// JobRunner: processes started inside a running job (mpirun's orted through Exec, each under a
// supervisor of its own) and outside any job (the health check).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/process.h"
#include "common/tls/tls.h"
#include "worker/job_runner.h"
#include "worker/job_runner_internal.h"

namespace loom::worker {
using internal::Merge;

SupervisorSpec JobRunner::ExecSpec(const Job& job, const std::string& dir, const std::string& command) const {
  RankSpec r;
  r.argv = {"/bin/sh", "-c", command};
  EnvMap env = NodeEnv(job.launch);
  internal::SetMpiSessionBase(env, job.launch.job().spec(), job.attempt_dir);
  r.env = Merge(BaseEnvironment(CurrentEnvironment()), env);
  r.workdir = job.launch.job().spec().workdir().empty() ? job.dir : job.launch.job().spec().workdir();
  r.stdout_path = dir + "/out";
  r.stderr_path = dir + "/err";
  if (job.switch_user) {
    r.env["USER"] = r.env["LOGNAME"] = job.user;
    r.env["HOME"] = job.home;
  }
  SupervisorSpec spec;
  spec.ranks.push_back(std::move(r));
  spec.switch_user = job.switch_user;
  spec.uid = job.uid;
  spec.gid = job.gid;
  spec.lease_file = options_.lease_file;  // a cut-off node's daemons die by the lease as ranks do
  spec.plan.ranks = 1;
  spec.plan.grace_ms = GraceMs(job);  // no time limit or signal here: the head's supervisor has them
  return spec;
}

JobRunner::ExecRun* JobRunner::FindExecRun(Job& job, int exec_id) {
  for (ExecRun& e : job.execs) {
    if (e.id == exec_id) return &e;
  }
  return nullptr;
}

namespace {
JobRunner::ExecInfo InfoOf(int id, const std::string& dir) { return {id, dir + "/out", dir + "/err"}; }
}  // namespace

StatusOr<JobRunner::Job*> JobRunner::FindJobWithToken(int64_t job_id, const std::string& job_token) {
  Job* job = FindJob(job_id);
  // One answer for "not here" and "wrong credential": a caller learns nothing by guessing ids.
  if (!job || job->launch.job_token().empty() || !tls::SecretEquals(job_token, job->launch.job_token())) {
    return PermissionDenied("exec needs the credential of job " + std::to_string(job_id) +
                            "'s attempt running on this node");
  }
  return job;
}

StatusOr<JobRunner::ExecInfo> JobRunner::StartExec(int64_t job_id, const std::string& job_token,
                                                   const std::string& command) {
  std::lock_guard<std::mutex> lock(mu_);
  LOOM_ASSIGN_OR_RETURN(Job* found, FindJobWithToken(job_id, job_token));
  Job& job = *found;
  if (!job.kill_reason.empty()) return FailedPrecondition("job " + std::to_string(job_id) + " is being killed");
  ExecRun e;
  e.id = job.execs.empty() ? 1 : job.execs.back().id + 1;
  e.dir = job.attempt_dir + "/exec-" + std::to_string(e.id);
  std::error_code ec;
  std::filesystem::create_directories(e.dir, ec);
  if (ec) return Internal("cannot create " + e.dir + ": " + ec.message());
  auto sup = SpawnSupervisor(job.key, e.dir, ExecSpec(job, e.dir, command));
  if (!sup.ok()) {
    std::filesystem::remove_all(e.dir, ec);
    return sup.status();
  }
  e.supervisor = *sup;
  job.execs.push_back(e);
  return InfoOf(e.id, e.dir);
}

StatusOr<JobRunner::ExecInfo> JobRunner::FindExec(int64_t job_id, const std::string& job_token, int exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  LOOM_ASSIGN_OR_RETURN(Job* job, FindJobWithToken(job_id, job_token));
  const ExecRun* e = FindExecRun(*job, exec_id);
  if (!e) return NotFound("job " + std::to_string(job_id) + " has no exec " + std::to_string(exec_id) + " on this node");
  return InfoOf(e->id, e->dir);
}

std::optional<int> JobRunner::WaitExecEnd(int64_t job_id, int exec_id, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<int> code;
  cv_.wait_for(lock, wait, [&] {
    Job* job = FindJob(job_id);
    const ExecRun* e = job ? FindExecRun(*job, exec_id) : nullptr;
    if (!e || stopping_) code = 137;  // its attempt ended here (and took its daemons along)
    else if (e->done) code = e->exit_code;
    return code.has_value();
  });
  return code;
}

void JobRunner::KillExec(int64_t job_id, int exec_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Job* job = FindJob(job_id);
  const ExecRun* e = job ? FindExecRun(*job, exec_id) : nullptr;
  if (e && !e->done) RequestKill(e->dir, e->supervisor, GraceMs(*job), "Killed");
}

int JobRunner::WaitCommand(pid_t pid) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return command_status_.count(pid) != 0 || stopping_; });
  auto it = command_status_.find(pid);
  int code = it == command_status_.end() ? 137 : it->second;
  command_status_.erase(pid);
  command_pids_.erase(pid);
  return code;
}

CheckRun JobRunner::RunCommand(const std::string& command, std::chrono::milliseconds timeout) {
  CheckRun run;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {1, false, std::string("pipe: ") + std::strerror(errno)};
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", command};
  spec.env = CurrentEnvironment();
  spec.stdout_fd = out[1];
  spec.stderr_fd = out[1];
  pid_t pid = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto spawned = spawner_.Spawn(spec);
    close(out[1]);
    if (!spawned.ok()) {
      close(out[0]);
      return {127, false, spawned.status().message()};
    }
    pid = *spawned;
    command_pids_.insert(pid);
    ++live_children_;
    ++spawned_;
    cv_.notify_all();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      run.timed_out = true;
      kill(-pid, SIGKILL);  // it leads its own group: its children too
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000))) < 0 && errno != EINTR) break;
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    if (run.output.size() < sizeof(buf)) run.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (!run.timed_out) {
    // Output closed; the program itself still gets only what is left of its time.
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return command_status_.count(pid) != 0 || stopping_; })) {
      run.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
  }
  run.exit_code = WaitCommand(pid);
  return run;
}

}  // namespace loom::worker
