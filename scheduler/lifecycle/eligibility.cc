#include "scheduler/lifecycle/eligibility.h"

namespace loom::lifecycle {
namespace {

// A term's outcome over its jobs (one, or an array's tasks): whether all ended, and whether one
// ended otherwise than COMPLETED.
TermState Outcome(v1::DependencyType type, bool all_ended, bool any_failed) {
  switch (type) {
    case v1::AFTER_OK:
      if (any_failed) return TermState::kNever;
      return all_ended ? TermState::kSatisfied : TermState::kWaiting;
    case v1::AFTER_ANY: return all_ended ? TermState::kSatisfied : TermState::kWaiting;
    case v1::AFTER_NOT_OK:
      if (!all_ended) return TermState::kWaiting;
      return any_failed ? TermState::kSatisfied : TermState::kNever;
    default: return TermState::kNever;  // refused at submit; a stored one cannot be honoured
  }
}

}  // namespace

TermState EvaluateTerm(const v1::Dependency& term, const v1::Job& job, const View& view) {
  if (term.type() == v1::SINGLETON) {
    for (int64_t id : view.Named(job.spec().tenant(), job.spec().name())) {
      if (id >= job.id()) break;
      const v1::Job* other = view.job(id);
      if (other && !IsTerminal(other->state())) return TermState::kWaiting;
    }
    return TermState::kSatisfied;
  }
  std::vector<int64_t> ids;
  if (term.whole_array()) {
    ids = view.ArrayTasks(term.job_id());
  } else {
    ids.push_back(term.job_id());
  }
  bool all_ended = true, any_failed = false;
  for (int64_t id : ids) {
    const v1::Job* dep = view.job(id);
    if (!dep) return TermState::kNever;  // loomd keeps named jobs in memory: a lost record
    if (!IsTerminal(dep->state())) {
      all_ended = false;
    } else if (dep->state() != v1::COMPLETED) {
      any_failed = true;
    }
  }
  return Outcome(term.type(), all_ended, any_failed);
}

bool CountsAgainstArrayLimit(const v1::Job& task) {
  if (task.state() == v1::PENDING) return task.wait() == v1::WAIT_NONE;
  if (task.state() == v1::RUNNING) return true;
  return !task.released() && task.allocation_size() > 0;
}

int ArrayActive(const View& view, int64_t array_job_id) {
  int active = 0;
  for (int64_t id : view.ArrayTasks(array_job_id)) {
    const v1::Job* task = view.job(id);
    active += task && CountsAgainstArrayLimit(*task);
  }
  return active;
}

Verdict Evaluate(const v1::Job& job, const View& view, int array_active) {
  Verdict v;
  for (const v1::Dependency& term : job.pending_dependencies()) {
    switch (EvaluateTerm(term, job, view)) {
      case TermState::kSatisfied: break;
      case TermState::kWaiting: v.remaining.push_back(term); break;
      case TermState::kNever:
        v.never = DescribeTerm(term);
        return v;
    }
  }
  if (job.held()) {
    v.wait = v1::WAIT_HELD;
  } else if (!v.remaining.empty()) {
    v.wait = v1::WAIT_DEPENDENCY;
  } else if (job.array().max_running() > 0 && array_active >= job.array().max_running()) {
    v.wait = v1::WAIT_ARRAY_LIMIT;
  }
  return v;
}

const char* WaitReason(v1::PendingWait wait) {
  switch (wait) {
    case v1::WAIT_HELD: return "JobHeldUser";
    case v1::WAIT_DEPENDENCY: return "Dependency";
    case v1::WAIT_ARRAY_LIMIT: return "JobArrayTaskLimit";
    default: return "";
  }
}

std::string DescribeTerm(const v1::Dependency& term) {
  switch (term.type()) {
    case v1::SINGLETON: return "singleton";
    case v1::AFTER_OK: return "afterok:" + std::to_string(term.job_id());
    case v1::AFTER_ANY: return "afterany:" + std::to_string(term.job_id());
    case v1::AFTER_NOT_OK: return "afternotok:" + std::to_string(term.job_id());
    default: return "dependency of unknown type on " + std::to_string(term.job_id());
  }
}

}  // namespace loom::lifecycle
