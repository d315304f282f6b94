// Store: loomd's durable state in SQLite (WAL). Every state change loomd acknowledges was
// committed here first, so `kill -9 loomd` and a restart lose nothing. Records are the loom.v1
// protobuf messages, with the columns queries need beside them.
//
// Thread safety: a Store is used by one thread at a time (loomd's commit lock serialises its use).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "scheduler/accounting/efficiency.h"
#include "scheduler/store/rows.h"

namespace loom::store {

// How the metrics tables stay bounded: buckets older than `fine_for_ms` are merged into buckets
// of `coarse_ms`, and buckets older than `keep_ms` are dropped.
struct RollUpPolicy {
  int64_t fine_for_ms = 2LL * 24 * 3600 * 1000;
  int64_t coarse_ms = 10LL * 60 * 1000;
  int64_t keep_ms = 400LL * 24 * 3600 * 1000;
};

struct StoreOptions {
  // FULL syncs the WAL on every commit (survives power loss); NORMAL survives process crashes
  // only. loomd defaults to FULL.
  bool sync_full = true;
};

// What loomd persists. An interface so tests (and loom-sim) can run the control plane over an
// in-memory store or one that fails on command (scheduler/store/memory_store.h).
class Store {
 public:
  // The SQLite store (WAL) at `path`.
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& path, StoreOptions options = {});
  virtual ~Store() = default;

  // Writes the whole batch atomically, or nothing.
  virtual Status Commit(const Batch& batch) = 0;

  // Rows that cannot be read (a corrupt record) are skipped and reported on stderr: one bad row
  // must not keep loomd from starting.
  virtual StatusOr<std::vector<v1::Job>> LoadJobs() = 0;    // by id
  virtual StatusOr<std::vector<v1::Node>> LoadNodes() = 0;  // by name
  // At most `limit` jobs with ids above `after_id`, by id, that match `filter`: a page of the
  // job history. The filter is part of the query, so a page is full unless the history ends.
  virtual StatusOr<std::vector<v1::Job>> LoadJobsPage(int64_t after_id, int limit, const JobFilter& filter) = 0;
  virtual StatusOr<std::vector<Event>> LoadEvents(int64_t job_id) = 0;
  virtual StatusOr<int64_t> MaxJobId() = 0;
  virtual StatusOr<std::vector<FairShareUsage>> LoadFairShareUsage() = 0;  // by tenant

  // Metrics buckets whose start lies in [from, to), by start; steps of one job when job_id > 0.
  virtual StatusOr<std::vector<acct::UsageBucket>> LoadUsage(int64_t from, int64_t to) = 0;
  virtual StatusOr<std::vector<acct::StepBucket>> LoadSteps(int64_t from, int64_t to,
                                                            int64_t job_id = 0) = 0;
  // Merges and drops old metrics buckets as `policy` says, measured back from `now`.
  virtual Status RollUp(int64_t now, const RollUpPolicy& policy) = 0;
};

}  // namespace loom::store
