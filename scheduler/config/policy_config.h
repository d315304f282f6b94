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
#pragma once

#include <string>

#include "common/status.h"
#include "scheduler/policies/registry.h"

namespace loom::sched {

struct PolicyConfig {
  std::string policy;  // empty: the file names none
  PolicySettings settings;
};

// `source` names the text in errors (the file name).
StatusOr<PolicyConfig> ParsePolicyConfig(const std::string& yaml, const std::string& source);
StatusOr<PolicyConfig> LoadPolicyConfig(const std::string& path);

}  // namespace loom::sched
