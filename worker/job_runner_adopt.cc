// JobRunner: taking over the attempts an earlier worker left (their supervisors outlive it).
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
        (void)BuildSpec(job);  // only for rank_gpus
        auto supervisor = ReadWholeFile(job.attempt_dir + "/supervisor");
        std::istringstream who(supervisor.ok() ? *supervisor : "");
        who >> job.supervisor >> job.supervisor_start;
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
  auto text = ReadWholeFile(job.attempt_dir + "/ranks");
  if (!text.ok()) return;
  std::istringstream in(*text);
  size_t i = 0;
  for (pid_t pid; in >> pid; ++i) {
    job.procs.push_back({pid, i < job.rank_gpus.size() ? job.rank_gpus[i] : -1, false, true, 0});
  }
  job.ranks_loaded = true;
}

bool JobRunner::PollSupervisor(Job& job, std::vector<Finished>& finished) {
  if (job.supervisor == 0 && job.attach_only) return false;
  if (!job.ranks_loaded) LoadRanks(job);
  const bool gone = job.supervisor_start == 0 || ProcessStartTime(job.supervisor) != job.supervisor_start;
  // Read after the liveness check: a supervisor writes its result before it exits.
  auto text = ReadWholeFile(job.attempt_dir + "/exit");
  StatusOr<AttemptResult> result = text.ok() ? DecodeResult(*text) : StatusOr<AttemptResult>(text.status());
  if (!result.ok() && !gone) return false;
  JobExit exit{job.key.job_id, job.key.attempt, 137, 0, job.kill_reason.empty() ? "SupervisorLost" : job.kill_reason};
  if (result.ok()) exit = {job.key.job_id, job.key.attempt, result->exit_code, result->signal, result->reason};
  Finish(job, std::move(exit), finished);
  return true;
}

}  // namespace loom::worker
