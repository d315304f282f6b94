// What `loom submit --wait` prints while it waits: one line per change of the job's state or
// reason ("Job 3 PENDING (Resources)", "Job 3 RUNNING on node-1,node-2"). Pure.
#pragma once

#include <string>

#include "loom/v1/loom.pb.h"

namespace loom::cli {

// The line for `now` if it differs from `before` (nullptr: nothing seen yet) in state or reason,
// else empty. Final states are left to the caller's last line.
std::string StateChange(const v1::Job* before, const v1::Job& now);

// COMPLETED, FAILED, CANCELLED, NODE_FAIL, TIMEOUT: the job will not change again.
bool IsFinal(v1::JobState state);

}  // namespace loom::cli
