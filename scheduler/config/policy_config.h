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
//     research: {weight: 3, gpu_quota: 64, max_qos: 2, max_priority: 100, max_pending_jobs: 500}
//   limits: {max_qos: 0, max_priority: 0, max_pending_jobs: 10000}  # tenants not listed
// max_qos / max_priority cap what a tenant's submit may ask for (absent: no cap);
// max_pending_jobs caps its queued jobs (absent or 0: no cap). loomd refuses a submit above them.
//   backfill: {max_reservations: 1, preemption: true, max_preemption_plans: 8}
//   jobs: {grace: 30s, max_grace: 2m, max_requeues: 5}  # SIGTERM→SIGKILL default and cap; requeues
#pragma once

#include <map>
#include <optional>
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

// What a tenant's submit may ask for; checked by loomd's service before the job is queued.
struct TenantLimits {
  std::optional<int> max_qos;
  std::optional<int> max_priority;
  int max_pending_jobs = 0;  // 0: no cap
};
struct AdmissionLimits {
  TenantLimits defaults;                        // `limits:`, for tenants not listed
  std::map<std::string, TenantLimits> tenants;  // keys under `tenants:` override the defaults
  const TenantLimits& For(const std::string& tenant) const {
    auto it = tenants.find(tenant);
    return it == tenants.end() ? defaults : it->second;
  }
};

struct PolicyConfig {
  std::string policy;  // empty: the file names none
  PolicySettings settings;
  JobLimits jobs;
  AdmissionLimits admission;
};

// `source` names the text in errors (the file name).
StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml, const std::string& source);
StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path);

}  // namespace loom::sched
