// Vocabulary of the scheduler core. The core is pure: no I/O, no threads, no wall clock. Time is
// passed in as milliseconds so loomd, the tests and the simulator drive the same code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::sched {

using JobId = int64_t;
using TimeMs = int64_t;  // milliseconds on whatever clock the caller runs (wall or virtual)
using NodeIndex = int32_t;

// A set of GPU indices on one node. 64 GPUs per node is far above any HGX/DGX board.
using GpuMask = uint64_t;
inline constexpr int kMaxGpusPerNode = 64;

inline int PopCount(GpuMask m) { return __builtin_popcountll(m); }
inline GpuMask LowBits(int n) { return n >= 64 ? ~GpuMask{0} : (GpuMask{1} << n) - 1; }
std::vector<int> MaskToIndices(GpuMask m);

enum class JobState { kPending, kRunning, kCompleted, kFailed, kCancelled };
const char* JobStateName(JobState s);
bool IsTerminal(JobState s);

// What the scheduler needs to know of a job to place it.
struct JobRequest {
  int gpus = 0;
  int gpus_per_node = 0;  // after normalisation: > 0 and divides gpus
  int priority = 0;
  TimeMs time_limit_ms = 0;
  std::string tenant;

  int nodes() const { return gpus_per_node > 0 ? gpus / gpus_per_node : 0; }
};

// The GPUs one node gives a job.
struct NodeGrant {
  NodeIndex node = -1;
  GpuMask gpus = 0;        // the GPUs the job's ranks use
  bool exclusive = false;  // the job holds the whole node (multi-node jobs), used or not
};
using Allocation = std::vector<NodeGrant>;

}  // namespace loom::sched
