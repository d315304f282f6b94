// The environment a job's ranks start with: what torch.distributed (RANK, WORLD_SIZE,
// MASTER_ADDR, ...) and Slurm-aware programs (LOOM_JOB_ID, LOOM_NODELIST) expect, then the
// job's --env, then what a job may not override: CUDA_VISIBLE_DEVICES and its kin, LOOM_JOB_ID
// and LOOM_JOB_TOKEN (the attempt's credential). Pure: the caller merges it over a base.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/task_layout.h"
#include "loom/v1/loom.pb.h"

namespace loom::worker {

using EnvMap = std::map<std::string, std::string>;

// The attempt a Launch starts (LOOM_JOB_RUN, 1-based): job.attempt(), or for a loomd that does
// not set it, the runs it recorded (the current one included); at least 1.
int LaunchAttempt(const v1::Job& job);
// What a job's processes keep of the worker's own environment: the system's (PATH, locale, ...),
// Open MPI's and PMIx's settings, OPENBLAS/OMP threads, and where loomd is (LOOM_SERVER and the
// public CA, LOOM_CA_CERT). Nothing else: no LOOM_TOKEN, no certificate or key paths, no secrets
// the worker was started with.
EnvMap BaseEnvironment(const EnvMap& worker_env);

// How the job's tasks sit on this launch's node (--tasks-per-node; 0 in the spec: one per GPU).
TaskLayout NodeLayout(const v1::LaunchRequest& launch);
// The GPUs the `local_task`-th task on this node sees: all of the node's in the default one task
// per GPU mode (ranks pick theirs by LOCAL_RANK), else its consecutive share of them.
std::vector<int> TaskGpus(const v1::LaunchRequest& launch, int local_task);

// Variables every process of the job on node `node_index` gets (MPI orteds too).
EnvMap NodeEnv(const v1::LaunchRequest& launch);
// NodeEnv plus the per-task variables for the `local_rank`-th task on that node (RANK, LOCAL_RANK
// count tasks, as Slurm's SLURM_PROCID and SLURM_LOCALID do) and the GPUs it sees.
EnvMap RankEnv(const v1::LaunchRequest& launch, int local_rank);

}  // namespace loom::worker
