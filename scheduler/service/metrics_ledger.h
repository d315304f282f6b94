// MetricsLedger: loomd's metrics between the events that produce them and the store. It integrates
// the cluster's usage levels into buckets and sums the training steps jobs report per bucket,
// and hands closed buckets to the control plane's next commit, so the store sees one write per
// bucket, not one per heartbeat or step report. A crash loses at most the buckets not yet
// flushed (one bucket's worth); jobs and their state are never at stake here.
//
// Not thread-safe: the control plane calls it under its lock.
#pragma once

#include <map>
#include <tuple>
#include <vector>

#include "common/status.h"
#include "scheduler/accounting/efficiency.h"
#include "scheduler/store/store.h"

namespace loom {

class MetricsLedger {
 public:
  explicit MetricsLedger(acct::TimeMs bucket_ms) : usage_(bucket_ms) {}

  // The current levels hold until `now`, `levels` from then on.
  void SetLevels(acct::TimeMs now, const acct::UsageLevels& levels);
  // Integrates the current levels up to `now` (before reading the open bucket).
  void AdvanceTo(acct::TimeMs now) { SetLevels(now, levels()); }
  const acct::UsageLevels& levels() const { return usage_.levels(); }
  acct::TimeMs bucket_ms() const { return usage_.bucket_ms(); }

  // Steps of `job_id`'s run `run` reported at `now`.
  void AddSteps(int64_t job_id, int run, acct::TimeMs now, const acct::StepTotals& totals);

  // Moves the buckets that closed by `now` into `batch`; with `everything`, the open ones too
  // (loomd is stopping: the ledger must not be used after that). If the commit fails, Restore(batch) takes them back for the next try.
  void Flush(acct::TimeMs now, bool everything, store::Batch& batch);
  void Restore(const store::Batch& batch);

  // What the store holds for [from, to) plus what is not flushed yet; steps of one job when
  // job_id > 0.
  StatusOr<std::vector<acct::UsageBucket>> Usage(store::Store& store, acct::TimeMs from,
                                                 acct::TimeMs to) const;
  StatusOr<std::vector<acct::StepBucket>> Steps(store::Store& store, acct::TimeMs from,
                                                acct::TimeMs to, int64_t job_id = 0) const;

 private:
  using StepKey = std::tuple<int64_t, int, acct::TimeMs>;  // job, run, bucket start

  acct::UsageIntegrator usage_;
  std::vector<acct::UsageBucket> closed_usage_;  // closed, not flushed
  std::map<StepKey, acct::StepTotals> steps_;    // not flushed
};

}  // namespace loom
