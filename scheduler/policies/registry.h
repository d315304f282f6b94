// Policies by name, as loomd's configuration chooses them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "scheduler/core/policy.h"

namespace loom::sched {

StatusOr<std::unique_ptr<SchedulingPolicy>> MakePolicy(const std::string& name);
std::vector<std::string> PolicyNames();

}  // namespace loom::sched
