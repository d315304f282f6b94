// JobRunner: taking over the attempts an earlier worker left (their supervisors outlive it).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/process.h"
#include "worker/job_runner.h"
#include "worker/job_runner_internal.h"
#include "worker/supervisor_files.h"

namespace loom::worker {

int JobRunner::Adopt() {
  std::vector<Finished> finished;
  int found = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::error_code ec;
    for (const auto& job_dir : std::filesystem::directory_iterator(options_.state_dir + "/jobs", ec)) {
      std::error_code ec2;
      for (const auto& entry : std::filesystem::directory_iterator(job_dir.path(), ec2)) {
        if (entry.path().filename().string().rfind("attempt-", 0) != 0) continue;
        Job job;
        job.attempt_dir = entry.path().string();
        job.dir = job_dir.path().string();
        auto launch = ReadWholeFile(job.attempt_dir + "/launch.pb");
        if (!launch.ok() || !job.launch.ParseFromString(*launch)) continue;  // never got started
        job.key = {job.launch.job().id(), LaunchAttempt(job.launch.job())};
        if (jobs_.count(job.key)) continue;
        job.attach_only = job.launch.job().spec().mpi() && job.launch.node_index() != 0;
        if (!job.attach_only) {
          (void)BuildSpec(job);  // only for rank_gpus
          job.supervisor = ReadSupervised(job.attempt_dir);
        }
        LoadExecs(job);
        ++found;
        auto [it, inserted] = jobs_.emplace(job.key, std::move(job));
        PollSupervisor(it->second, finished);  // a finished (or lost) one is reported now
      }
    }
  }
  Deliver(finished);
  return found;
}

void JobRunner::LoadRanks(Job& job) {
  auto text = ReadWholeFile(job.attempt_dir + "/supervisor");  // after its first line, the ranks
  if (!text.ok()) return;
  std::istringstream in(*text);
  std::string announce;
  std::getline(in, announce);
  size_t i = 0;
  for (pid_t pid; in >> pid; ++i) {
    job.procs.push_back({pid, i < job.rank_gpus.size() ? job.rank_gpus[i] : -1, 0});
  }
  job.ranks_loaded = true;
}

void JobRunner::LoadExecs(Job& job) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(job.attempt_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("exec-", 0) != 0) continue;
    ExecRun e;
    e.id = std::atoi(name.c_str() + 5);
    if (e.id <= 0) continue;
    e.dir = entry.path().string();
    e.supervisor = ReadSupervised(e.dir);
    job.execs.push_back(std::move(e));
  }
  std::sort(job.execs.begin(), job.execs.end(), [](const ExecRun& a, const ExecRun& b) { return a.id < b.id; });
  PollExecs(job);
}

bool JobRunner::PollExecs(Job& job) {
  bool ended = false;
  for (ExecRun& e : job.execs) {
    if (e.done) continue;
    // An adopted exec's supervisor may have announced itself only after the folder was read.
    if (e.supervisor.start == 0) {
      Supervised announced = ReadSupervised(e.dir);
      if (announced.pid != 0) e.supervisor = announced;
    }
    auto result = SupervisorResult(e.dir, e.supervisor, "SupervisorLost");
    if (!result) continue;
    e.done = true;
    e.exit_code = result->exit_code;
    ended = true;
  }
  return ended;
}

bool JobRunner::PollSupervisor(Job& job, std::vector<Finished>& finished) {
  if (job.attach_only) return false;
  if (!job.ranks_loaded) LoadRanks(job);
  auto result = SupervisorResult(job.attempt_dir, job.supervisor,
                                 job.kill_reason.empty() ? "SupervisorLost" : job.kill_reason);
  if (!result) return false;
  Finish(job, {job.key.job_id, job.key.attempt, result->exit_code, result->signal, result->reason}, finished);
  return true;
}

}  // namespace loom::worker
