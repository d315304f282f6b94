// ControlPlane's read RPCs: one job, the job list (with the finished history paged from the
// store) and the node list, as the CLI and the dashboard see them.
#include <algorithm>

#include "scheduler/auth/token_store.h"
#include "scheduler/lifecycle/translate.h"
#include "scheduler/service/control_plane.h"

namespace loom {
namespace {

// A ListJobs request's filters, checked: one clear error for a bad one, before any query.
StatusOr<store::JobFilter> FilterOf(const v1::ListJobsRequest& request) {
  store::JobFilter f;
  for (int st : request.states()) {
    if (!v1::JobState_IsValid(st) || st == v1::JOB_STATE_UNSPECIFIED) {
      return InvalidArgument("unknown job state " + std::to_string(st));
    }
    f.states.push_back(static_cast<v1::JobState>(st));
  }
  f.from_ms = request.window().from_ms();
  f.to_ms = request.window().to_ms();
  if (f.from_ms < 0 || f.to_ms < 0) return InvalidArgument("a time window must not start before 1970");
  if (f.to_ms > 0 && f.from_ms >= f.to_ms) return InvalidArgument("a time window must end after it starts");
  if (!request.tenant().empty()) LOOM_RETURN_IF_ERROR(auth::ValidateTenant(request.tenant()));
  if (request.name().size() > 256) return InvalidArgument("a job name filter must be at most 256 characters");
  f.tenant = request.tenant();
  f.name = request.name();
  return f;
}

}  // namespace

StatusOr<v1::Job> ControlPlane::GetJob(int64_t id) const {
  std::lock_guard<std::mutex> commit(commit_mu_);  // the MFU series reads the store
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  v1::Job job;
  if (it != jobs_.end()) {
    job = it->second;
  } else {  // finished long ago: only the store has it
    LOOM_ASSIGN_OR_RETURN(auto found, store_->LoadJobsPage(id - 1, 1, {}));
    if (found.empty() || found[0].id() != id) return NotFound("no job " + std::to_string(id));
    job = std::move(found[0]);
  }
  DescribePending(job, /*with_factors=*/true);
  for (double mfu : MfuSeries(job)) job.add_mfu_series(mfu);
  return job;
}

std::vector<v1::Job> ControlPlane::ListJobs(const std::vector<v1::JobState>& states) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Job> out;
  for (const auto& [id, job] : jobs_) {
    if (!states.empty() && std::find(states.begin(), states.end(), job.state()) == states.end()) continue;
    out.push_back(job);
    DescribePending(out.back(), /*with_factors=*/false);
  }
  return out;
}

StatusOr<v1::ListJobsReply> ControlPlane::ListJobsPage(const v1::ListJobsRequest& request) const {
  constexpr int kDefaultPage = 1000, kMaxPage = 10000;
  const int limit = request.limit() <= 0 ? kDefaultPage : std::min(request.limit(), kMaxPage);
  int64_t after = 0;
  if (!request.page_token().empty()) {
    char* end = nullptr;
    after = std::strtoll(request.page_token().c_str(), &end, 10);
    if (*end != '\0' || after < 0) return InvalidArgument("invalid page token '" + request.page_token() + "'");
  }
  LOOM_ASSIGN_OR_RETURN(const store::JobFilter filter, FilterOf(request));
  v1::ListJobsReply reply;
  if (request.array_job_id() > 0) {  // an array's tasks: memory keeps them while any is recent
    const int64_t first = request.array_job_id();
    auto wanted = [&](const v1::Job& job) {
      return (!request.has_array_task() || job.array().task_id() == request.array_task()) &&
             store::Matches(job, filter);
    };
    bool in_memory = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto array = arrays_.find(first);
      in_memory = array != arrays_.end();
      const std::vector<int64_t> none;
      const std::vector<int64_t>& ids = in_memory ? array->second : none;
      for (auto it = std::upper_bound(ids.begin(), ids.end(), after); it != ids.end() && reply.jobs_size() < limit; ++it) {
        auto row = jobs_.find(*it);
        if (row == jobs_.end() || !wanted(row->second)) continue;
        *reply.add_jobs() = row->second;
        DescribePending(*reply.mutable_jobs(reply.jobs_size() - 1), /*with_factors=*/false);
      }
    }
    if (!in_memory) {  // the whole array left memory: its tasks have consecutive ids from `first`
      std::lock_guard<std::mutex> commit(commit_mu_);
      LOOM_ASSIGN_OR_RETURN(auto head, store_->LoadJobsPage(first - 1, 1, {}));
      if (head.empty() || head[0].id() != first || head[0].array().array_job_id() != first) return reply;
      const int64_t from = std::max(after, first - 1);
      const int64_t left = first + head[0].array().task_count() - 1 - from;
      if (left <= 0) return reply;
      LOOM_ASSIGN_OR_RETURN(auto tasks, store_->LoadJobsPage(from, static_cast<int>(std::min<int64_t>(left, limit)), {}));
      for (v1::Job& job : tasks) {
        if (job.array().array_job_id() == first && wanted(job)) *reply.add_jobs() = std::move(job);
      }
    }
  } else if (request.include_finished()) {
    std::lock_guard<std::mutex> commit(commit_mu_);
    LOOM_ASSIGN_OR_RETURN(auto page, store_->LoadJobsPage(after, limit, filter));
    std::lock_guard<std::mutex> lock(mu_);
    for (v1::Job& job : page) {
      auto it = jobs_.find(job.id());
      v1::Job* out = reply.add_jobs();
      *out = it != jobs_.end() ? it->second : std::move(job);  // memory has the step totals
      DescribePending(*out, /*with_factors=*/false);
    }
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = jobs_.upper_bound(after); it != jobs_.end() && reply.jobs_size() < limit; ++it) {
      const v1::Job& job = it->second;
      if (!store::Matches(job, filter)) continue;
      *reply.add_jobs() = job;
      DescribePending(*reply.mutable_jobs(reply.jobs_size() - 1), /*with_factors=*/false);
    }
  }
  if (reply.jobs_size() == limit) reply.set_next_page_token(std::to_string(reply.jobs(limit - 1).id()));
  return reply;
}

std::vector<v1::Node> ControlPlane::ListNodes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Node> out;
  for (const auto& [name, entry] : nodes_) {
    v1::Node n = entry.node;
    n.set_last_heartbeat_ms(entry.last_seen_ms);
    if (auto index = core_->cluster().Find(name)) {
      for (sched::JobId job : core_->cluster().JobsOn(*index)) {
        for (const sched::NodeGrant& g : *core_->cluster().AllocationOf(job)) {
          if (g.node != *index) continue;
          for (int gpu : sched::MaskToIndices(g.gpus)) n.add_allocated_gpus(gpu);
        }
      }
      std::sort(n.mutable_allocated_gpus()->begin(), n.mutable_allocated_gpus()->end());
    }
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace loom
