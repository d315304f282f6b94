// The rows one store transaction writes: what loomd's lifecycle decides and the store commits.
// Header-only and free of SQLite, so the pure lifecycle module (and loom-sim) can build them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
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

// Which jobs a page of the history holds (`loom history`); an empty field matches any job.
struct JobFilter {
  JobFilter() = default;
  JobFilter(std::vector<v1::JobState> s) : states(std::move(s)) {}  // NOLINT: a state list is a filter
  std::vector<v1::JobState> states;
  int64_t from_ms = 0, to_ms = 0;  // the job's life (submit .. end, or still going) overlaps [from, to)
  std::string tenant, name;
};

// The filter as a predicate: what the SQLite query computes, for in-memory lists and tests.
inline bool Matches(const v1::Job& job, const JobFilter& f) {
  if (!f.states.empty() && std::find(f.states.begin(), f.states.end(), job.state()) == f.states.end()) return false;
  if (!f.tenant.empty() && job.spec().tenant() != f.tenant) return false;
  if (!f.name.empty() && job.spec().name() != f.name) return false;
  if (f.to_ms > 0 && job.submit_time_ms() >= f.to_ms) return false;
  if (f.from_ms > 0 && job.end_time_ms() != 0 && job.end_time_ms() < f.from_ms) return false;
  return true;
}

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
