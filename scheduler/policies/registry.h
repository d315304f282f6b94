// Policies by name, as loomd's configuration chooses them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "scheduler/core/policy.h"
#include "scheduler/policies/backfill.h"

namespace loom::sched {

// What loomd's configuration may set; a policy reads the parts it uses.
struct PolicySettings {
  PriorityWeights weights;
  FairShareConfig fair_share;  // tenants' weights and GPU quotas
  BackfillOptions backfill;
};

// "priority-fifo" (the default), "multifactor-backfill", "multifactor-backfill-no-preemption".
StatusOr<std::unique_ptr<SchedulingPolicy>> MakePolicy(const std::string& name,
                                                       const PolicySettings& settings);
StatusOr<std::unique_ptr<SchedulingPolicy>> MakePolicy(const std::string& name);
std::vector<std::string> PolicyNames();

}  // namespace loom::sched
