#include "worker/rank_env.h"

#include <algorithm>
#include <set>
#include <vector>

#include "common/task_layout.h"

namespace loom::worker {
namespace {

std::string Join(const auto& items, auto&& fn) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + fn(item);
  return out;
}

// What a job may not override, set after its --env: the GPU binding and the job's identity
// (the worker's Exec check trusts LOOM_JOB_TOKEN; a job naming another id gains nothing, but
// its own tools must not be misled).
void PinWorkerOwned(const v1::LaunchRequest& launch, const std::vector<int>& visible, EnvMap& env) {
  const v1::Job& job = launch.job();
  const std::string gpus = Join(visible, [](int g) { return std::to_string(g); });
  for (const char* name : {"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
                           "ROCR_VISIBLE_DEVICES"}) {
    env[name] = gpus;
  }
  env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID";  // the numbering the worker's indices use
  env["LOOM_JOB_ID"] = std::to_string(job.id());
  if (launch.job_token().empty()) {
    env.erase("LOOM_JOB_TOKEN");
  } else {
    env["LOOM_JOB_TOKEN"] = launch.job_token();
  }
}

std::vector<int> NodeGpus(const v1::LaunchRequest& launch) {
  const auto& g = launch.job().allocation(launch.node_index()).gpu_indices();
  return {g.begin(), g.end()};
}

}  // namespace

TaskLayout NodeLayout(const v1::LaunchRequest& launch) {
  const v1::Job& job = launch.job();
  const int here = job.allocation(launch.node_index()).gpu_indices_size();
  return LayoutOf(job.allocation_size(), here, job.spec().tasks_per_node());
}

std::vector<int> TaskGpus(const v1::LaunchRequest& launch, int local_task) {
  std::vector<int> all = NodeGpus(launch);
  const TaskLayout layout = NodeLayout(launch);
  if (layout.one_per_gpu()) return all;
  const int per = layout.gpus_per_task();
  const auto first = all.begin() + std::min<size_t>(all.size(), static_cast<size_t>(local_task) * per);
  return {first, first + std::min<ptrdiff_t>(per, all.end() - first)};
}

int LaunchAttempt(const v1::Job& job) {
  if (job.attempt() > 0) return job.attempt();
  return std::max(job.runs_size(), 1);
}

EnvMap BaseEnvironment(const EnvMap& worker_env) {
  static const std::set<std::string> kNames = {
      "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
      "LD_LIBRARY_PATH", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "CUDA_DEVICE_ORDER",
      "LOOM_SERVER", "LOOM_CA_CERT", "LOOM_INSECURE"};
  static const std::vector<std::string> kPrefixes = {"LC_", "OMPI_", "PMIX_", "OPAL_", "PRTE_"};
  EnvMap out;
  for (const auto& [k, v] : worker_env) {
    bool keep = kNames.count(k) != 0;
    for (const std::string& p : kPrefixes) keep |= k.rfind(p, 0) == 0;
    if (keep) out[k] = v;
  }
  return out;
}

EnvMap NodeEnv(const v1::LaunchRequest& launch) {
  const v1::Job& job = launch.job();
  const auto& here = job.allocation(launch.node_index());
  EnvMap env;
  env["LOOM_JOB_ID"] = std::to_string(job.id());
  env["LOOM_JOB_NAME"] = job.spec().name();
  // Which start of the job this is, 1-based: > 1 means resume from the last checkpoint.
  env["LOOM_JOB_RUN"] = std::to_string(LaunchAttempt(job));
  env["LOOM_NODELIST"] = Join(job.allocation(), [](const auto& a) { return a.node(); });
  env["LOOM_NNODES"] = std::to_string(job.allocation_size());
  env["LOOM_NODEID"] = std::to_string(launch.node_index());
  env["LOOM_NODENAME"] = here.node();
  env["LOOM_GPUS"] = std::to_string(job.spec().gpus());
  const TaskLayout layout = NodeLayout(launch);
  // Tasks, Slurm's SLURM_NTASKS and --ntasks-per-node: torchrun's --nnodes and --nproc-per-node
  // come from LOOM_NNODES and LOCAL_WORLD_SIZE (this node's GPUs) or LOOM_GPUS_PER_TASK.
  env["LOOM_NTASKS"] = std::to_string(layout.tasks());
  env["LOOM_TASKS_PER_NODE"] = std::to_string(layout.tasks_per_node);
  env["LOOM_GPUS_PER_TASK"] = std::to_string(layout.gpus_per_task());
  env["CUDA_VISIBLE_DEVICES"] = Join(here.gpu_indices(), [](int g) { return std::to_string(g); });
  env["MASTER_ADDR"] = launch.nodes(0).host().empty() ? "127.0.0.1" : launch.nodes(0).host();
  env["MASTER_PORT"] = std::to_string(job.master_port());
  env["WORLD_SIZE"] = std::to_string(layout.tasks());
  env["LOCAL_WORLD_SIZE"] = std::to_string(here.gpu_indices_size());
  env["NODE_RANK"] = std::to_string(launch.node_index());
  const v1::Node& node = launch.nodes(launch.node_index());
  if (node.gpus_size() > 0) {
    env["LOOM_GPU_MODEL"] = node.gpus(0).model();
    if (node.gpus(0).emulated()) env["LOOM_EMULATED_GPUS"] = "1";
  }
  for (const auto& [k, v] : job.spec().env()) env[k] = v;  // the user's word, but for the GPU binding
  PinWorkerOwned(launch, NodeGpus(launch), env);
  return env;
}

EnvMap RankEnv(const v1::LaunchRequest& launch, int local_rank) {
  EnvMap env = NodeEnv(launch);
  const int per_node = NodeLayout(launch).tasks_per_node;
  env["LOCAL_RANK"] = std::to_string(local_rank);
  env["RANK"] = std::to_string(launch.node_index() * per_node + local_rank);
  for (const auto& [k, v] : launch.job().spec().env()) env[k] = v;
  PinWorkerOwned(launch, TaskGpus(launch, local_rank), env);
  return env;
}

}  // namespace loom::worker
