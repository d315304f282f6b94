// The environment a job's ranks start with: what torch.distributed (RANK, WORLD_SIZE,
// MASTER_ADDR, ...) and Slurm-aware programs (LOOM_JOB_ID, LOOM_NODELIST) expect, then the
// job's --env, then what a job may not override: CUDA_VISIBLE_DEVICES and its kin, LOOM_JOB_ID
// and LOOM_JOB_TOKEN (the attempt's credential). Pure: the caller merges it over a base.
#pragma once

#include <map>
#include <string>

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

// Variables every process of the job on node `node_index` gets (MPI orteds too).
EnvMap NodeEnv(const v1::LaunchRequest& launch);
// NodeEnv plus the per-rank variables for the `local_rank`-th rank on that node.
EnvMap RankEnv(const v1::LaunchRequest& launch, int local_rank);

}  // namespace loom::worker
