#include "scheduler/store/memory_store.h"

#include <algorithm>

namespace loom::store {

Status MemoryStore::Commit(const Batch& batch) {
  if (batch.empty()) return Status::Ok();
  ++commits_;
  for (const v1::Job* j : batch.jobs) jobs_[j->id()] = *j;
  for (const v1::Node* n : batch.nodes) nodes_[n->name()] = *n;
  for (const Event& e : batch.events) events_.push_back(e);
  for (const FairShareUsage& u : batch.fair_share_usage) fair_share_[u.tenant] = u;
  for (const acct::UsageBucket& b : batch.usage) {
    auto [it, fresh] = usage_.try_emplace(b.start, b);
    if (fresh) continue;
    acct::UsageBucket& a = it->second;
    a.length_ms = std::max(a.length_ms, b.length_ms);
    a.gpu_up_s += b.gpu_up_s;
    a.gpu_allocated_s += b.gpu_allocated_s;
    a.gpu_busy_s += b.gpu_busy_s;
    a.gpu_fragmented_s += b.gpu_fragmented_s;
    a.peak_flop += b.peak_flop;
  }
  for (const acct::StepBucket& b : batch.steps) {
    auto [it, fresh] = steps_.try_emplace({b.job_id, b.run, b.start}, b);
    if (!fresh) it->second.totals.Add(b.totals);
  }
  return Status::Ok();
}

StatusOr<std::vector<v1::Job>> MemoryStore::LoadJobs() {
  std::vector<v1::Job> out;
  for (const auto& [id, j] : jobs_) out.push_back(j);
  return out;
}

StatusOr<std::vector<v1::Job>> MemoryStore::LoadJobsPage(int64_t after_id, int limit, const JobFilter& filter) {
  std::vector<v1::Job> out;
  for (auto it = jobs_.upper_bound(after_id); it != jobs_.end() && static_cast<int>(out.size()) < limit; ++it) {
    if (Matches(it->second, filter)) out.push_back(it->second);
  }
  return out;
}

StatusOr<std::vector<v1::Node>> MemoryStore::LoadNodes() {
  std::vector<v1::Node> out;
  for (const auto& [name, n] : nodes_) out.push_back(n);
  return out;
}

StatusOr<std::vector<Event>> MemoryStore::LoadEvents(int64_t job_id) {
  std::vector<Event> out;
  for (const Event& e : events_) {
    if (e.job_id == job_id) out.push_back(e);
  }
  return out;
}

StatusOr<int64_t> MemoryStore::MaxJobId() { return jobs_.empty() ? 0 : jobs_.rbegin()->first; }

StatusOr<std::vector<FairShareUsage>> MemoryStore::LoadFairShareUsage() {
  std::vector<FairShareUsage> out;
  for (const auto& [tenant, u] : fair_share_) out.push_back(u);
  return out;
}

StatusOr<std::vector<acct::UsageBucket>> MemoryStore::LoadUsage(int64_t from, int64_t to) {
  std::vector<acct::UsageBucket> out;
  for (auto it = usage_.lower_bound(from); it != usage_.end() && it->first < to; ++it) {
    out.push_back(it->second);
  }
  return out;
}

StatusOr<std::vector<acct::StepBucket>> MemoryStore::LoadSteps(int64_t from, int64_t to, int64_t job_id) {
  std::vector<acct::StepBucket> out;  // by job, run, bucket: the map's order
  for (const auto& [key, b] : steps_) {
    if (b.start >= from && b.start < to && (job_id == 0 || b.job_id == job_id)) out.push_back(b);
  }
  return out;
}

Status FailingStore::Commit(const Batch& batch) {
  if (batch.empty()) return Status::Ok();
  if (fail_ != 0) {
    if (fail_ > 0) --fail_;
    ++failed_;
    return Internal("injected commit failure");
  }
  return inner_->Commit(batch);
}

}  // namespace loom::store
