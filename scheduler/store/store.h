// Store: loomd's durable state in SQLite (WAL). Every state change loomd acknowledges was
// committed here first, so `kill -9 loomd` and a restart lose nothing. Records are the loom.v1
// protobuf messages, with the columns queries need beside them.
//
// Thread safety: a Store is used by one thread at a time (loomd holds its state lock around it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "scheduler/accounting/efficiency.h"
#include "scheduler/store/rows.h"

struct sqlite3;

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

class Store {
 public:
  static StatusOr<std::unique_ptr<Store>> Open(const std::string& path, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Writes the whole batch atomically, or nothing.
  Status Commit(const Batch& batch);

  StatusOr<std::vector<v1::Job>> LoadJobs();  // by id
  StatusOr<std::vector<v1::Node>> LoadNodes();  // by name
  StatusOr<std::vector<Event>> LoadEvents(int64_t job_id);
  StatusOr<int64_t> MaxJobId();
  StatusOr<std::vector<FairShareUsage>> LoadFairShareUsage();  // by tenant

  // Metrics buckets whose start lies in [from, to), by start; steps of one job when job_id > 0.
  StatusOr<std::vector<acct::UsageBucket>> LoadUsage(int64_t from, int64_t to);
  StatusOr<std::vector<acct::StepBucket>> LoadSteps(int64_t from, int64_t to, int64_t job_id = 0);
  // Merges and drops old metrics buckets as `policy` says, measured back from `now`.
  Status RollUp(int64_t now, const RollUpPolicy& policy);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);

  sqlite3* db_;
};

}  // namespace loom::store
