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

// How a multi-node job's nodes may spread over leaf switches (Slurm's --switches=N@wait, Kueue's
// required/preferred topology). Every placement already spans as few leaf switches as it can.
enum class LeafConstraint {
  kFewest,      // as few leaf switches as possible, but start now rather than wait for fewer
  kPreferOne,   // one leaf switch only, until one_leaf_wait_ms after submission; then kFewest
  kRequireOne,  // one leaf switch or not at all
};

// What the scheduler needs to know of a job to place it.
struct JobRequest {
  int gpus = 0;
  int gpus_per_node = 0;  // after normalisation: > 0 and divides gpus
  int priority = 0;       // an administrator's boost, added to the computed priority as it is
  int qos = 0;            // a job may preempt running jobs of a strictly lower QoS
  TimeMs time_limit_ms = 0;  // walltime limit; 0: none (backfill treats the job as never ending)
  std::string tenant;
  LeafConstraint leaf = LeafConstraint::kFewest;
  TimeMs one_leaf_wait_ms = 0;  // for kPreferOne

  int nodes() const { return gpus_per_node > 0 ? gpus / gpus_per_node : 0; }
};

// The GPUs one node gives a job.
struct NodeGrant {
  NodeIndex node = -1;
  GpuMask gpus = 0;        // the GPUs the job's ranks use
  bool exclusive = false;  // the job holds the whole node (multi-node jobs), used or not
};
using Allocation = std::vector<NodeGrant>;

inline constexpr TimeMs kNever = INT64_MAX;  // the end of a job without a time limit

// When a job that starts at `start` must end: start + its limit, or kNever without one.
inline TimeMs ExpectedEnd(TimeMs start, const JobRequest& r) {
  return r.time_limit_ms > 0 ? start + r.time_limit_ms : kNever;
}

}  // namespace loom::sched
