// JobRunner: processes started inside a running job (mpirun's orted through Exec) and outside
// any job (the health check), and signals to them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/process.h"
#include "common/tls/tls.h"
#include "worker/job_runner.h"
#include "worker/job_runner_internal.h"

namespace loom::worker {
using internal::Merge;

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
  pid_to_job_[pid] = job.key;
  ++live_children_;
  ++spawned_;
  cv_.notify_all();
  return pid;
}

StatusOr<JobRunner::Exec> JobRunner::StartExec(int64_t job_id, const std::string& job_token,
                                               const std::string& command) {
  std::lock_guard<std::mutex> lock(mu_);
  Job* found = FindJob(job_id);
  // One answer for "not here" and "wrong credential": a caller learns nothing by guessing ids.
  if (!found || found->launch.job_token().empty() || !tls::SecretEquals(job_token, found->launch.job_token())) {
    return PermissionDenied("exec needs the credential of job " + std::to_string(job_id) +
                            "'s attempt running on this node");
  }
  Job& job = *found;
  if (!job.kill_reason.empty()) return FailedPrecondition("job " + std::to_string(job_id) + " is being killed");
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return Internal(std::string("pipe: ") + std::strerror(errno));
  }
  EnvMap env = NodeEnv(job.launch);
  internal::SetMpiSessionBase(env, job.attempt_dir);
  auto pid = SpawnInJob(job, {"/bin/sh", "-c", command}, Merge(BaseEnvironment(CurrentEnvironment()), env),
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
    exec_pids_.insert(pid);
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
    if (!cv_.wait_until(lock, deadline, [&] { return exec_status_.count(pid) != 0 || stopping_; })) {
      run.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
    }
  }
  run.exit_code = WaitExec(pid);
  return run;
}

void JobRunner::SignalExecs(const Job& job, int sig) const {
  std::set<pid_t> groups;
  for (const Proc& p : job.procs) {
    if (!p.alive || !p.exec) continue;
    pid_t g = getpgid(p.pid);
    if (g > 0) groups.insert(g);
    kill(p.pid, sig);
  }
  if (job.process_group > 0 && !groups.empty()) groups.insert(job.process_group);
  for (pid_t g : groups) kill(-g, sig);  // the daemons' own children too
}

}  // namespace loom::worker
