// ReportSpool: exit reports kept on disk until loomd acknowledges them, so neither a loomd that
// refuses one (a failed commit) nor a worker restart loses the end of a job. One file per
// (job, attempt), written whole (temporary file, fsync, rename) before the report is first sent.
//
// Thread safety: none; NodeAgent calls it under its own lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::worker {

class ReportSpool {
 public:
  explicit ReportSpool(std::string dir) : dir_(std::move(dir)) {}

  // Writes (or replaces) the report of its (job, attempt) durably.
  Status Put(const v1::ReportJobExitRequest& report);
  // Forgets an acknowledged report. Removing one that is not there is not an error.
  Status Remove(int64_t job_id, int attempt);
  // Every report on disk, oldest job first. Unreadable files are skipped with a line on stderr
  // (a half-written one cannot exist: files appear only by rename).
  std::vector<v1::ReportJobExitRequest> Load() const;

  const std::string& dir() const { return dir_; }

 private:
  std::string PathOf(int64_t job_id, int attempt) const;
  const std::string dir_;
};

// Delay before the next try after `failures` consecutive failures: doubling from `min_ms`, capped
// at `max_ms`; 0 after none (or when `min_ms` is 0: no backoff).
int64_t RetryDelayMs(int failures, int64_t min_ms, int64_t max_ms);

}  // namespace loom::worker
