// ControlPlane's part of job arrays, dependencies, hold and release: the rows of a Submit, the
// resolution of job references, and the indexes the lifecycle's eligibility reads
// (scheduler/lifecycle/eligibility.h holds the rule; docs/ARRAYS_AND_DEPENDENCIES.md).
#include <algorithm>

#include "common/job_syntax.h"
#include "scheduler/lifecycle/eligibility.h"
#include "scheduler/service/control_plane.h"
#include "scheduler/service/state_view.h"

namespace loom {

StatusOr<std::vector<v1::Job>> ControlPlane::MakeRows(const v1::JobSpec& spec) const {
  std::vector<v1::Job> rows;
  const int64_t first = next_job_id_;
  if (spec.array().empty()) {
    v1::Job& job = rows.emplace_back();
    job.set_id(first);
    *job.mutable_spec() = spec;
    return rows;
  }
  LOOM_ASSIGN_OR_RETURN(ArraySpec array, ParseArraySpec(spec.array()));
  const int count = static_cast<int>(array.tasks.size());
  rows.resize(count);
  for (int i = 0; i < count; ++i) {
    v1::Job& job = rows[i];
    job.set_id(first + i);
    *job.mutable_spec() = spec;
    v1::ArrayTask* task = job.mutable_array();
    task->set_array_job_id(first);
    task->set_task_id(array.tasks[i]);
    task->set_task_count(count);
    task->set_task_min(array.tasks.front());
    task->set_task_max(array.tasks.back());
    task->set_max_running(array.max_running);
    // Slurm's SLURM_ARRAY_* under Loom's names, in every rank's environment.
    auto& env = *job.mutable_spec()->mutable_env();
    env["LOOM_ARRAY_JOB_ID"] = std::to_string(first);
    env["LOOM_ARRAY_TASK_ID"] = std::to_string(array.tasks[i]);
    env["LOOM_ARRAY_TASK_COUNT"] = std::to_string(count);
    env["LOOM_ARRAY_TASK_MIN"] = std::to_string(array.tasks.front());
    env["LOOM_ARRAY_TASK_MAX"] = std::to_string(array.tasks.back());
  }
  return rows;
}

Status ControlPlane::ResolveDependencies(v1::JobSpec& spec, std::map<int64_t, v1::Job>& extra) {
  for (v1::Dependency& d : *spec.mutable_dependencies()) {
    if (d.type() == v1::SINGLETON) {
      if (d.job_id() != 0 || d.has_array_task()) return InvalidArgument("singleton names no job");
      continue;
    }
    if (d.type() != v1::AFTER_OK && d.type() != v1::AFTER_ANY && d.type() != v1::AFTER_NOT_OK) {
      return InvalidArgument("unknown dependency type " + std::to_string(d.type()));
    }
    if (d.job_id() <= 0) return InvalidArgument("a dependency needs a job id above 0");
    d.set_whole_array(false);
    const std::string name = std::to_string(d.job_id()) +
                             (d.has_array_task() ? "_" + std::to_string(d.array_task()) : "");
    const v1::Job* row = nullptr;
    if (auto it = jobs_.find(d.job_id()); it != jobs_.end()) {
      row = &it->second;
    } else {  // finished and out of memory: the store has it
      LOOM_ASSIGN_OR_RETURN(auto found, store_->LoadJobsPage(d.job_id() - 1, 1, {}));
      if (found.empty() || found[0].id() != d.job_id()) return NotFound("dependency on unknown job " + name);
      row = &(extra[d.job_id()] = std::move(found[0]));
    }
    const bool is_array = row->array().array_job_id() == d.job_id();
    if (is_array && !arrays_.count(d.job_id())) {
      // The whole array left memory (every task ended long ago): its tasks take consecutive ids
      // from the array's, so the store gives them in one page; the lifecycle reads them from
      // `extra` (ExtraRowsView::ArrayTasks) as it would from memory.
      const int64_t first = d.job_id();
      LOOM_ASSIGN_OR_RETURN(auto tasks, store_->LoadJobsPage(first - 1, row->array().task_count(), {}));
      for (v1::Job& t : tasks) {
        if (t.array().array_job_id() == first) extra[t.id()] = std::move(t);
      }
    }
    if (d.has_array_task()) {
      if (!is_array) return NotFound("dependency on " + name + ": job " + std::to_string(d.job_id()) + " is not an array");
      v1::JobRef ref;
      ref.set_job_id(d.job_id());
      ref.set_array_task(d.array_task());
      auto ids = ResolveRef(ref);
      if (!ids.ok()) {  // out of memory: the rows just loaded, if any
        for (const auto& [id, t] : extra) {
          if (t.array().array_job_id() == d.job_id() && t.array().task_id() == d.array_task()) ids = std::vector<int64_t>{id};
        }
      }
      if (!ids.ok()) return NotFound("dependency on " + name + ": " + ids.status().message());
      d.set_job_id(ids->front());
      d.clear_array_task();
    } else if (is_array) {
      d.set_whole_array(true);
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> ControlPlane::ResolveRef(const v1::JobRef& ref) const {
  const std::string id = std::to_string(ref.job_id());
  auto array = arrays_.find(ref.job_id());
  if (ref.has_array_task()) {
    if (array == arrays_.end()) return NotFound("no job array " + id);
    for (int64_t task : array->second) {
      auto it = jobs_.find(task);
      if (it != jobs_.end() && it->second.array().task_id() == ref.array_task()) return std::vector<int64_t>{task};
    }
    return NotFound("array " + id + " has no task " + std::to_string(ref.array_task()));
  }
  if (array != arrays_.end()) return array->second;  // 12: the whole array
  if (!jobs_.count(ref.job_id())) return NotFound("no job " + id);
  return std::vector<int64_t>{ref.job_id()};
}

void ControlPlane::IndexJob(const v1::Job* before, const v1::Job& after) {
  const int64_t id = after.id();
  if (after.state() == v1::PENDING && after.wait() != v1::WAIT_NONE) {
    waiting_.insert(id);
  } else {
    waiting_.erase(id);
  }
  const std::pair<std::string, std::string> key{after.spec().tenant(), after.spec().name()};
  if (!lifecycle::IsTerminal(after.state())) {
    named_[key].insert(id);
  } else if (auto it = named_.find(key); it != named_.end()) {
    it->second.erase(id);
    if (it->second.empty()) named_.erase(it);
  }
  if (before == nullptr && after.array().array_job_id() != 0) {
    std::vector<int64_t>& tasks = arrays_[after.array().array_job_id()];
    if (tasks.empty() || tasks.back() < id) tasks.push_back(id);  // rows arrive by id
  }
}

bool ControlPlane::Forgettable(const v1::Job& job, int64_t now, std::map<int64_t, bool>& done) const {
  const int64_t array = job.array().array_job_id();
  if (array == 0) return true;
  auto cached = done.find(array);
  if (cached != done.end()) return cached->second;
  bool all = true;
  auto it = arrays_.find(array);
  for (int64_t task : it == arrays_.end() ? std::vector<int64_t>{} : it->second) {
    auto row = jobs_.find(task);
    if (row == jobs_.end()) continue;
    const v1::Job& t = row->second;
    all = all && lifecycle::PhaseOf(t) == lifecycle::Phase::kDone && t.end_time_ms() > 0 &&
          now - t.end_time_ms() > options_.min_job_age_ms && !metrics_jobs_.count(task);
    if (!all) break;
  }
  done[array] = all;
  return all;
}

template <typename Handler>
StatusOr<std::vector<v1::Job>> ControlPlane::ChangeJobs(const std::vector<v1::JobRef>& refs, bool pending_tasks,
                                                        Handler handler) {
  std::vector<int64_t> ids;
  LOOM_RETURN_IF_ERROR(Change([&](const StateView& view, int64_t now) -> StatusOr<lifecycle::Edit> {
    for (const v1::JobRef& ref : refs) {
      LOOM_ASSIGN_OR_RETURN(std::vector<int64_t> named, ResolveRef(ref));
      // Holding or releasing a whole array means its pending tasks (as scontrol hold does).
      if (pending_tasks && !ref.has_array_task() && arrays_.count(ref.job_id())) {
        std::erase_if(named, [&](int64_t id) { return jobs_.at(id).state() != v1::PENDING; });
        if (named.empty()) return FailedPrecondition("array " + std::to_string(ref.job_id()) + " has no pending tasks");
      }
      ids.insert(ids.end(), named.begin(), named.end());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return handler(view, ids, now);
  }));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::Job> out;
  for (int64_t id : ids) {
    if (auto it = jobs_.find(id); it != jobs_.end()) out.push_back(it->second);
  }
  return out;
}

StatusOr<std::vector<v1::Job>> ControlPlane::Hold(const std::vector<v1::JobRef>& refs) {
  return ChangeJobs(refs, /*pending_tasks=*/true, [&](const StateView& view, const std::vector<int64_t>& ids, int64_t now) {
    return lifecycle_.OnHold(view, ids, now);
  });
}

StatusOr<std::vector<v1::Job>> ControlPlane::Release(const std::vector<v1::JobRef>& refs) {
  return ChangeJobs(refs, /*pending_tasks=*/true, [&](const StateView& view, const std::vector<int64_t>& ids, int64_t now) {
    return lifecycle_.OnRelease(view, ids, now);
  });
}

StatusOr<std::vector<v1::Job>> ControlPlane::CancelJobs(const std::vector<v1::JobRef>& refs) {
  return ChangeJobs(refs, /*pending_tasks=*/false, [&](const StateView& view, const std::vector<int64_t>& ids, int64_t now) {
    return lifecycle_.OnCancelAll(view, ids, now);
  });
}

}  // namespace loom
