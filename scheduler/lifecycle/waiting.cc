// The lifecycle's handlers for jobs that wait outside the core's queue: submit (one job or an
// array), hold, release, cancel of many, and the re-evaluation of waiting jobs after a change
// (eligibility.h holds the rule).
#include <map>

#include "scheduler/lifecycle/edit_builder.h"
#include "scheduler/lifecycle/eligibility.h"
#include "scheduler/lifecycle/lifecycle.h"

namespace loom::lifecycle {
namespace {

using internal::Builder;

constexpr const char* kNeverReason = "DependencyNeverSatisfied";

// Active tasks per array, counted once per handler and kept up to date as it admits tasks.
class ActiveCounts {
 public:
  explicit ActiveCounts(const View& view) : view_(view) {}
  int& of(int64_t array) {
    auto it = counts_.find(array);
    if (it == counts_.end()) it = counts_.emplace(array, ArrayActive(view_, array)).first;
    return it->second;
  }

 private:
  const View& view_;
  std::map<int64_t, int> counts_;
};

// Applies eligibility to a PENDING job already known to loomd: it joins or leaves the core's
// queue, or is cancelled for a dependency that can never hold. Returns whether the row changed.
bool Reconsider(Builder& b, const View& over, int64_t id, ActiveCounts& active, int64_t now) {
  const v1::Job* j = b.job(id);
  if (!j || j->state() != v1::PENDING) return false;
  const int64_t array = j->array().array_job_id();
  const bool limited = array != 0 && j->array().max_running() > 0;
  const Verdict v = Evaluate(*j, over, limited ? active.of(array) : 0);
  const bool was_queued = j->wait() == v1::WAIT_NONE;
  if (!v.never.empty()) {
    b.log("lifecycle: job " + std::to_string(id) + " cancelled: " + v.never + " can never be satisfied");
    b.cancel_pending(id, kNeverReason);
    if (limited && was_queued) --active.of(array);
    return true;
  }
  if (v.wait == j->wait() && static_cast<int>(v.remaining.size()) == j->pending_dependencies_size()) {
    return false;
  }
  v1::Job& m = b.mut(id);
  m.clear_pending_dependencies();
  for (const v1::Dependency& d : v.remaining) *m.add_pending_dependencies() = d;
  m.set_wait(v.wait);
  m.set_reason(WaitReason(v.wait));  // "" once queued: the core's reason shows
  if (was_queued && v.wait != v1::WAIT_NONE) {
    b.core({CoreChange::kRemovePending, id});
    if (limited) --active.of(array);
  } else if (!was_queued && v.wait == v1::WAIT_NONE) {
    m.set_eligible_time_ms(now);  // queueing delay counts from here (Slurm's EligibleTime)
    b.core({CoreChange::kAddPending, id, m.submit_time_ms()});  // its place in the queue is kept
    b.event(id, "", "eligible");
    if (limited) ++active.of(array);
  }
  return true;
}

// Checks every job of `ids` exists and is PENDING, or names the first that is not.
Status CheckPending(const View& view, const std::vector<int64_t>& ids, const char* verb, const char* done) {
  if (ids.empty()) return InvalidArgument(std::string("name at least one job to ") + verb);
  for (int64_t id : ids) {
    const v1::Job* j = view.job(id);
    if (!j) return NotFound("no job " + std::to_string(id));
    if (j->state() != v1::PENDING) {
      return FailedPrecondition("job " + std::to_string(id) + " is " + v1::JobState_Name(j->state()) +
                                ": only pending jobs can be " + done);
    }
  }
  return Status::Ok();
}

}  // namespace

Edit Lifecycle::OnSubmitAll(const View& view, std::vector<v1::Job> jobs, int64_t now) const {
  Edit edit;
  int admitted = 0;  // tasks of this array queued so far (all of `jobs` share one array, or none)
  for (v1::Job& job : jobs) {
    const int64_t id = job.id();
    job.set_state(v1::PENDING);
    job.set_submit_time_ms(now);
    job.set_eligible_time_ms(now);
    job.set_held(job.spec().hold());
    *job.mutable_pending_dependencies() = job.spec().dependencies();
    const Verdict v = Evaluate(job, EditView(view, edit), admitted);
    edit.events.push_back({now, id, "", "submitted"});
    if (!v.never.empty()) {
      job.set_state(v1::CANCELLED);
      job.set_reason(kNeverReason);
      job.set_end_time_ms(now);
      job.set_released(true);
      edit.events.push_back({now, id, "", "cancelled: " + v.never + " can never be satisfied"});
    } else {
      job.clear_pending_dependencies();
      for (const v1::Dependency& d : v.remaining) *job.add_pending_dependencies() = d;
      job.set_wait(v.wait);
      job.set_reason(WaitReason(v.wait));
      if (v.wait == v1::WAIT_NONE) {
        edit.core.push_back({CoreChange::kAddPending, id, now});
        ++admitted;
      }
    }
    edit.jobs[id] = std::move(job);
  }
  return edit;
}

StatusOr<Edit> Lifecycle::OnHold(const View& view, const std::vector<int64_t>& ids, int64_t now) const {
  LOOM_RETURN_IF_ERROR(CheckPending(view, ids, "hold", "held"));
  Edit edit;
  Builder b(view, edit, *this, now);
  for (int64_t id : ids) {
    const v1::Job* j = b.job(id);
    if (j->held()) continue;
    v1::Job& m = b.mut(id);
    m.set_held(true);
    if (m.wait() == v1::WAIT_NONE) b.core({CoreChange::kRemovePending, id});
    m.set_wait(v1::WAIT_HELD);
    m.set_reason(WaitReason(v1::WAIT_HELD));
    b.event(id, "", "held");
  }
  Wake(view, edit, now);  // a held array task frees a slot of its %K
  return edit;
}

StatusOr<Edit> Lifecycle::OnRelease(const View& view, const std::vector<int64_t>& ids, int64_t now) const {
  LOOM_RETURN_IF_ERROR(CheckPending(view, ids, "release", "released"));
  Edit edit;
  Builder b(view, edit, *this, now);
  for (int64_t id : ids) {
    if (!b.job(id)->held()) continue;
    b.mut(id).set_held(false);
    b.event(id, "", "released");
  }
  Wake(view, edit, now);
  return edit;
}

StatusOr<Edit> Lifecycle::OnCancelAll(const View& view, const std::vector<int64_t>& ids, int64_t now) const {
  if (ids.empty()) return InvalidArgument("name at least one job to cancel");
  bool any = false;
  for (int64_t id : ids) {
    const v1::Job* j = view.job(id);
    if (!j) return NotFound("no job " + std::to_string(id));
    any = any || !IsTerminal(j->state());
  }
  if (!any) {
    const v1::Job* j = view.job(ids[0]);
    return FailedPrecondition("job " + std::to_string(ids[0]) + " already ended (" +
                              v1::JobState_Name(j->state()) + ")");
  }
  Edit edit;
  Builder b(view, edit, *this, now);
  for (int64_t id : ids) {
    const v1::Job* j = b.job(id);
    if (IsTerminal(j->state())) continue;
    if (j->state() == v1::PENDING) {
      b.cancel_pending(id, "Cancelled");
    } else {
      b.finalize(id, v1::CANCELLED, 0, "Cancelled", v1::CAUSE_CANCELLED, "cancelled", GraceMs(*j));
    }
  }
  return edit;
}

void Lifecycle::Wake(const View& view, Edit& edit, int64_t now) const {
  // One pass in ascending id order suffices: a term names only jobs submitted earlier (lower
  // ids), so a cancel this pass makes is seen by every job it could affect later in the pass.
  const EditView over(view, edit);
  Builder b(view, edit, *this, now);
  ActiveCounts active(over);
  for (int64_t id : over.Waiting()) {
    const v1::Job* j = b.job(id);
    if (!j || j->state() != v1::PENDING || j->wait() == v1::WAIT_NONE) continue;
    Reconsider(b, over, id, active, now);
  }
}

}  // namespace loom::lifecycle
