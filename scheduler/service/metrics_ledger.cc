#include "scheduler/service/metrics_ledger.h"

namespace loom {

void MetricsLedger::SetLevels(acct::TimeMs now, const acct::UsageLevels& levels) {
  usage_.Set(now, levels);
  for (const acct::UsageBucket& b : usage_.TakeClosed()) closed_usage_.push_back(b);
}

void MetricsLedger::AddSteps(int64_t job_id, int run, acct::TimeMs now,
                             const acct::StepTotals& totals) {
  const acct::TimeMs bucket = now - now % bucket_ms();
  steps_[{job_id, run, bucket}].Add(totals);
}

void MetricsLedger::Flush(acct::TimeMs now, bool everything, store::Batch& batch) {
  AdvanceTo(now);
  batch.usage.insert(batch.usage.end(), closed_usage_.begin(), closed_usage_.end());
  closed_usage_.clear();
  if (everything && usage_.open().gpu_up_s > 0) batch.usage.push_back(usage_.open());
  for (auto it = steps_.begin(); it != steps_.end();) {
    const auto& [job, run, start] = it->first;
    if (!everything && start >= now - now % bucket_ms()) {
      ++it;
      continue;
    }
    batch.steps.push_back({job, run, start, it->second});
    it = steps_.erase(it);
  }
}

void MetricsLedger::Restore(const store::Batch& batch) {
  // Closed usage goes back in front; a flushed open bucket is still in the integrator.
  std::vector<acct::UsageBucket> back;
  for (const acct::UsageBucket& b : batch.usage) {
    if (b.start != usage_.open().start) back.push_back(b);
  }
  closed_usage_.insert(closed_usage_.begin(), back.begin(), back.end());
  for (const acct::StepBucket& b : batch.steps) steps_[{b.job_id, b.run, b.start}].Add(b.totals);
}

StatusOr<std::vector<acct::UsageBucket>> MetricsLedger::Usage(store::Store& store, acct::TimeMs from,
                                                              acct::TimeMs to) const {
  LOOM_ASSIGN_OR_RETURN(std::vector<acct::UsageBucket> out, store.LoadUsage(from, to));
  std::vector<acct::UsageBucket> unflushed = closed_usage_;
  unflushed.push_back(usage_.open());
  for (const acct::UsageBucket& b : unflushed) {
    if (b.start >= from && b.start < to) out.push_back(b);
  }
  return out;
}

StatusOr<std::vector<acct::StepBucket>> MetricsLedger::Steps(store::Store& store, acct::TimeMs from,
                                                             acct::TimeMs to, int64_t job_id) const {
  LOOM_ASSIGN_OR_RETURN(std::vector<acct::StepBucket> out, store.LoadSteps(from, to, job_id));
  for (const auto& [key, totals] : steps_) {
    const auto& [job, run, start] = key;
    if ((job_id == 0 || job == job_id) && start >= from && start < to) {
      out.push_back({job, run, start, totals});
    }
  }
  return out;
}

}  // namespace loom
