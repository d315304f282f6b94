// proto ↔ core translation: what the scheduler core needs of a stored job row, and how the core's
// decisions are written back into rows. Pure.
#pragma once

#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "scheduler/core/cluster.h"
#include "scheduler/core/types.h"

namespace loom::lifecycle {

// Bounds on a spec's durations, so that × 1000 cannot overflow (and a typo of years is refused).
inline constexpr int64_t kMaxDurationS = 366LL * 24 * 3600;  // a year

// What the scheduler core needs of a spec; the spec may not be normalised yet.
sched::JobRequest RequestFromSpec(const v1::JobSpec& spec);
// Of a stored (normalised) spec; INTERNAL if it is not normalised.
StatusOr<sched::JobRequest> RequestOf(const v1::JobSpec& spec);
// The job row's allocation in the core's terms; NOT_FOUND for a node the cluster does not know.
StatusOr<sched::Allocation> AllocationOf(const v1::Job& job, const sched::Cluster& cluster);
void FillAllocation(const sched::Allocation& allocation, const sched::Cluster& cluster, v1::Job& job);
sched::JobState ToCore(v1::JobState s);

// The peak a worker declared for a GPU, or its model's catalog figure; FLOP/s.
double PeakFlops(const v1::Gpu& gpu);

// MASTER_PORT: chosen at each start among these, so that no two jobs holding one head node
// share it (lifecycle.cc, PickMasterPort).
inline constexpr int kMasterPortBase = 20000;
inline constexpr int kMasterPortRange = 10000;

}  // namespace loom::lifecycle
