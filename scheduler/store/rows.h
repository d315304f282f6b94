// The rows one store transaction writes: what loomd's lifecycle decides and the store commits.
// Header-only and free of SQLite, so the pure lifecycle module (and loom-sim) can build them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loom/v1/loom.pb.h"
#include "scheduler/accounting/efficiency.h"

namespace loom::store {

struct Event {
  int64_t time_ms = 0;
  int64_t job_id = 0;  // 0: a node event
  std::string node;
  std::string what;  // "submitted", "started", "completed", "node down", ...
};

// A tenant's decayed fair-share usage (GPU-milliseconds) as of a time, so a restarted loomd
// resumes its fair share instead of forgetting who used what.
struct FairShareUsage {
  std::string tenant;
  double gpu_ms = 0;
  int64_t as_of_ms = 0;
};

// One transaction's worth of writes.
struct Batch {
  std::vector<const v1::Job*> jobs;
  std::vector<const v1::Node*> nodes;
  std::vector<Event> events;
  // Metrics roll-ups, added to what the store holds for the same bucket (and job and run).
  std::vector<acct::UsageBucket> usage;
  std::vector<acct::StepBucket> steps;
  std::vector<FairShareUsage> fair_share_usage;  // rows replace the tenants' earlier rows
  bool empty() const {
    return jobs.empty() && nodes.empty() && events.empty() && usage.empty() && steps.empty() &&
           fair_share_usage.empty();
  }
};

}  // namespace loom::store
