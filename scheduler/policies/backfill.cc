#include "scheduler/policies/backfill.h"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "scheduler/policies/preemption.h"

namespace loom::sched {
namespace {

struct Reservation {
  TimeMs start = 0;
  Allocation allocation;
};

// The state of one pass: two views of free GPUs (all of them, and those outside every
// reservation), the reservations made so far and the decisions.
class Pass {
 public:
  Pass(const Cluster& cluster, std::span<const RunningJob> running, const Placer& placer,
       const FairShareLedger& ledger, const BackfillOptions& options, TimeMs now)
      : cluster_(cluster),
        running_(running),
        placer_(placer),
        options_(options),
        now_(now),
        free_now_(cluster),
        outside_reservations_(cluster),
        reserved_(cluster.size(), 0),
        quota_(ledger, running) {}

  void Consider(const PendingJob& job);
  PassResult Result() && { return std::move(result_); }

 private:
  void Start(JobId id, const JobRequest& request, Allocation allocation);
  WaitReason WhyNotNow(const CapacityView& view, const JobRequest& request) const;
  bool MayPlanPreemption() const {
    return options_.preemption && plans_ < options_.max_preemption_plans;
  }
  // Plans on `view`, the GPUs the job may use now, so what it will start on after its victims
  // leave respects the reservations as any other start does.
  bool TryPreempt(const CapacityView& view, JobId id, const JobRequest& request);
  std::optional<Reservation> Reserve(const JobRequest& request) const;
  void Hold(JobId id, const Reservation& reservation);

  const Cluster& cluster_;
  std::span<const RunningJob> running_;
  const Placer& placer_;
  const BackfillOptions& options_;
  const TimeMs now_;
  CapacityView free_now_;
  CapacityView outside_reservations_;
  std::vector<GpuMask> reserved_;  // per node, the GPUs some reservation holds
  TimeMs first_reservation_ = kNever;
  int reservations_ = 0;
  int plans_ = 0;  // preemption plans tried
  QuotaTracker quota_;
  std::unordered_set<JobId> victims_;
  PassResult result_;
  std::vector<TimeMs> started_ends_;  // parallel to result_.starts
};

void Pass::Consider(const PendingJob& job) {
  const JobRequest* request = job.request;
  JobRequest resolved;  // kPreferOne made definite; copied only for those jobs
  if (request->leaf == LeafConstraint::kPreferOne) {
    resolved = *request;
    resolved.leaf = now_ - job.submit_time < request->one_leaf_wait_ms ? LeafConstraint::kRequireOne
                                                                       : LeafConstraint::kFewest;
    request = &resolved;
  }
  if (!quota_.Allows(*request)) {
    result_.waiting.emplace_back(job.id, WaitReason::kQuota);
    return;
  }
  // A job that ends before the first reservation starts may use reserved GPUs meanwhile.
  const bool ends_in_time = ExpectedEnd(now_, *request) <= first_reservation_;
  const CapacityView& view = ends_in_time ? free_now_ : outside_reservations_;
  Allocation allocation;
  if (placer_.Place(view, *request, &allocation)) {
    Start(job.id, *request, std::move(allocation));
    return;
  }
  const WaitReason why = WhyNotNow(view, *request);
  if (request->qos > 0 && MayPlanPreemption() && TryPreempt(view, job.id, *request)) {
    result_.waiting.emplace_back(job.id, why);
    return;
  }
  if (reservations_ < options_.max_reservations) {
    if (std::optional<Reservation> r = Reserve(*request)) {
      Hold(job.id, *r);
      result_.waiting.emplace_back(job.id, why);
      return;
    }
  }
  result_.waiting.emplace_back(job.id, reservations_ > 0 ? WaitReason::kPriority : why);
}

void Pass::Start(JobId id, const JobRequest& request, Allocation allocation) {
  free_now_.Take(allocation);
  outside_reservations_.Take(allocation);
  quota_.Add(request);
  started_ends_.push_back(ExpectedEnd(now_, request));
  result_.starts.push_back({id, std::move(allocation)});
}

// Topology when enough GPUs are free but not under one leaf switch, as the job requires.
WaitReason Pass::WhyNotNow(const CapacityView& view, const JobRequest& request) const {
  if (request.leaf != LeafConstraint::kRequireOne || request.nodes() <= 1) {
    return WaitReason::kResources;
  }
  JobRequest anywhere = request;
  anywhere.leaf = LeafConstraint::kFewest;
  Allocation unused;
  return placer_.Place(view, anywhere, &unused) ? WaitReason::kTopology : WaitReason::kResources;
}

bool Pass::TryPreempt(const CapacityView& view, JobId id, const JobRequest& request) {
  ++plans_;
  std::optional<PreemptionPlan> plan =
      PlanPreemption(view, request, running_, victims_, placer_, now_);
  if (!plan) return false;
  for (JobId victim : plan->victims) {
    victims_.insert(victim);
    result_.preemptions.push_back({victim, id});
  }
  return true;
}

// Walks the running jobs' ends in time order, giving their GPUs back (except reserved ones)
// until the job fits: that time and that gang are its reservation.
std::optional<Reservation> Pass::Reserve(const JobRequest& request) const {
  std::vector<std::pair<TimeMs, const Allocation*>> releases;
  releases.reserve(running_.size() + result_.starts.size());
  for (const RunningJob& job : running_) {
    // A victim's GPUs are spoken for by the job that preempts it.
    if (job.preempting || victims_.count(job.id)) continue;
    if (const Allocation* a = cluster_.AllocationOf(job.id))
      releases.emplace_back(job.expected_end(), a);
  }
  for (size_t i = 0; i < result_.starts.size(); ++i) {
    releases.emplace_back(started_ends_[i], &result_.starts[i].allocation);
  }
  std::sort(releases.begin(), releases.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  CapacityView future = outside_reservations_;
  Allocation gang;
  for (size_t i = 0; i < releases.size() && releases[i].first != kNever;) {
    const TimeMs at = releases[i].first;
    for (; i < releases.size() && releases[i].first == at; ++i) {
      for (const NodeGrant& g : *releases[i].second) {
        if (!cluster_.node(g.node).up) continue;
        future.Give(g.node, GrantMask(cluster_.node(g.node), g) & ~reserved_[g.node]);
      }
    }
    if (future.free_gpus() >= request.gpus && placer_.Place(future, request, &gang)) {
      return Reservation{std::max(at, now_), std::move(gang)};
    }
  }
  return std::nullopt;
}

void Pass::Hold(JobId id, const Reservation& reservation) {
  for (const NodeGrant& g : reservation.allocation) {
    const GpuMask mask = GrantMask(cluster_.node(g.node), g);
    reserved_[g.node] |= mask;
    outside_reservations_.Take(g.node, mask);
  }
  first_reservation_ = std::min(first_reservation_, reservation.start);
  ++reservations_;
  result_.expected_starts.emplace_back(id, reservation.start);
}

}  // namespace

BackfillPolicy::BackfillPolicy(std::unique_ptr<Placer> placer, MultifactorPriority priority,
                               BackfillOptions options)
    : placer_(std::move(placer)), priority_(std::move(priority)), options_(options) {}

PassResult BackfillPolicy::Schedule(const Cluster& cluster, std::span<const PendingJob> pending,
                                    std::span<const RunningJob> running, TimeMs now) const {
  Pass pass(cluster, running, *placer_, priority_.ledger(), options_, now);
  for (const PendingJob& job : priority_.Order(pending, cluster.up_gpus(), now)) {
    pass.Consider(job);
  }
  return std::move(pass).Result();
}

std::vector<PriorityFactor> BackfillPolicy::Explain(const Cluster& cluster, const PendingJob& job,
                                                    TimeMs now) const {
  const PriorityFactors f = priority_.Factors(job, cluster.up_gpus(), now);
  return {{"age", f.age},
          {"fair_share", f.fair_share},
          {"job_size", f.job_size},
          {"qos", f.qos},
          {"priority", f.priority}};
}

}  // namespace loom::sched
