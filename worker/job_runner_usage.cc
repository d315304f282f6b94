// JobRunner: how busy each GPU was, from the CPU time of the processes driving it.
#include <sys/types.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "worker/job_runner.h"
#include "worker/job_runner_internal.h"

namespace loom::worker {
using internal::NowMs;

namespace {

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

}  // namespace

std::vector<double> JobRunner::Utilization(int gpu_count) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  const double elapsed_ticks = (now - last_utilization_ms_) / 1000.0 * sysconf(_SC_CLK_TCK);
  std::vector<double> busy(static_cast<size_t>(std::max(gpu_count, 0)), 0.0);
  std::multimap<pid_t, pid_t> children;  // read once, only if an MPI job needs it
  for (auto& [id, job] : jobs_) {
    bool per_gpu = false;
    for (Proc& p : job.procs) {
      if (p.gpu < 0) continue;
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
    if (children.empty()) children = ProcessTree();
    uint64_t ticks = 0;
    for (const Proc& p : job.procs) ticks += TreeCpuTicks(p.pid, children);
    for (const ExecRun& e : job.execs) {
      if (!e.done) ticks += TreeCpuTicks(e.supervisor.pid, children);
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

}  // namespace loom::worker
