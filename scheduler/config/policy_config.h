// Policy configs (loomd --policy-config FILE.yaml): the scheduling policy's name and its settings
// (priority weights, fair-share half-life, tenants' weights and GPU quotas, backfill options).
// Pure apart from reading the one file. Every error is one line naming the file and the key
// ("prod.yaml: tenants.research.gpu_quota: must not be negative"); unknown keys are errors, so a
// misspelt weight cannot silently fall back to its default. Keys left out keep their defaults.
//
//   policy: multifactor-backfill          # optional; loomd's --policy overrides it
//   weights: {age: 1000, fair_share: 10000, job_size: 1000, qos: 2000, max_age: 7d, max_qos: 10}
//   fair_share: {half_life: 7d, default_weight: 1}
//   tenants:
//     research: {weight: 3, gpu_quota: 64}  # gpu_quota 0: no cap
//   backfill: {max_reservations: 1, preemption: true, max_preemption_plans: 8}
//   jobs: {grace: 30s, max_grace: 2m, max_requeues: 5}  # SIGTERM→SIGKILL default and cap; requeues
#pragma once

#include <string>

#include "common/status.h"
#include "scheduler/policies/registry.h"

namespace loom::sched {

// What loomd's lifecycle allows jobs (scheduler/lifecycle): the grace between SIGTERM and
// SIGKILL when a job sets none, the cap on any job's --grace, and the requeue budget of jobs
// that set no --max-requeues.
struct JobLimits {
  int64_t grace_ms = 30000;
  int64_t max_grace_ms = 30000;
  int max_requeues = 5;
};

struct PolicyConfig {
  std::string policy;  // empty: the file names none
  PolicySettings settings;
  JobLimits jobs;
};

// `source` names the text in errors (the file name).
StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml, const std::string& source);
StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path);

}  // namespace loom::sched
