#include "scheduler/core/policy.h"

namespace loom::sched {

const char* WaitReasonName(WaitReason r) {
  switch (r) {
    case WaitReason::kNone: return "None";
    case WaitReason::kPriority: return "Priority";
    case WaitReason::kResources: return "Resources";
    case WaitReason::kQuota: return "Quota";
    case WaitReason::kTopology: return "Topology";
  }
  return "Unknown";
}

}  // namespace loom::sched
