#include "scheduler/core/types.h"

namespace loom::sched {

std::vector<int> MaskToIndices(GpuMask m) {
  std::vector<int> out;
  out.reserve(PopCount(m));  // one allocation: this runs for every node of every start
  for (int i = 0; m != 0; ++i, m >>= 1) {
    if (m & 1) out.push_back(i);
  }
  return out;
}

const char* JobStateName(JobState s) {
  switch (s) {
    case JobState::kPending: return "PENDING";
    case JobState::kRunning: return "RUNNING";
    case JobState::kCompleted: return "COMPLETED";
    case JobState::kFailed: return "FAILED";
    case JobState::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";
}

bool IsTerminal(JobState s) {
  return s == JobState::kCompleted || s == JobState::kFailed || s == JobState::kCancelled;
}

}  // namespace loom::sched
