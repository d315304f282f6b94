// ControlPlane's read-only views: stats and efficiency figures, a job's MFU series, what the
// scheduler says of a pending job, the cluster's usage levels. Callers hold mu_ (and commit_mu_
// where the store is read).
#include <algorithm>
#include <map>

#include "scheduler/lifecycle/translate.h"
#include "scheduler/service/control_plane.h"

namespace loom {
namespace {

constexpr int kMfuSeriesLength = 60;
// Fair-share usage decays over days: a pass that commits nothing else writes it at most this
// often, so an idle-but-busy cluster does not sync the database on every pass.
constexpr int64_t kUsageWriteIntervalMs = 5000;

}  // namespace

std::vector<double> ControlPlane::MfuSeries(const v1::Job& job) const {
  int run = job.runs_size() - 1;
  while (run >= 0 && job.runs(run).steps() == 0) --run;
  if (run < 0 || job.runs(run).peak_flops() <= 0) return {};
  const v1::JobRun& r = job.runs(run);
  const int64_t end = r.end_ms() ? r.end_ms() : clock_->NowMs();
  auto steps = metrics_.Steps(*store_, r.start_ms() - metrics_.bucket_ms(), end + metrics_.bucket_ms(),
                              job.id());
  if (!steps.ok()) return {};
  std::map<int64_t, acct::StepTotals> by_bucket;  // ordered by time
  for (const acct::StepBucket& b : *steps) {
    if (b.run == run) by_bucket[b.start].Add(b.totals);
  }
  std::vector<double> out;
  for (const auto& [start, t] : by_bucket) {
    if (t.step_s > 0) out.push_back(t.model_flops / (t.step_s * r.peak_flops()));
  }
  if (out.size() > kMfuSeriesLength) out.erase(out.begin(), out.end() - kMfuSeriesLength);
  return out;
}

void ControlPlane::DescribePending(v1::Job& job, bool with_factors) const {
  if (job.state() != v1::PENDING) return;
  if (job.wait() != v1::WAIT_NONE) return;  // held, dependency, array limit: the row's reason
  job.set_reason(sched::WaitReasonName(core_->reason(job.id())));
  if (auto start = core_->expected_start(job.id())) job.set_expected_start_ms(*start);
  if (!with_factors) return;
  for (const sched::PriorityFactor& f : core_->Explain(job.id(), clock_->NowMs())) {
    v1::PriorityFactor* out = job.add_priority_factors();
    out->set_name(f.name);
    out->set_value(f.value);
  }
}

namespace {

void ToProto(const acct::Efficiency& e, v1::Efficiency* out) {
  out->set_gpu_hours_available(e.gpu_hours_available);
  out->set_gpu_hours_allocated(e.gpu_hours_allocated);
  out->set_allocation_ratio(e.allocation_ratio);
  out->set_gpu_busy_ratio(e.gpu_busy_ratio);
  out->set_model_flops(e.model_flops);
  out->set_mfu(e.mfu);
  out->set_goodput(e.goodput);
  out->set_queue_delay_mean_s(e.queue_delay_mean_s);
  out->set_queue_delay_p95_s(e.queue_delay_p95_s);
  out->set_runs_started(e.runs_started);
  out->set_fragmentation(e.fragmentation);
  out->set_fragmented_gpus_mean(e.fragmented_gpus_mean);
  out->set_ettr(e.ettr);
  for (const auto& [cause, hours] : e.lost_gpu_hours) (*out->mutable_lost_gpu_hours())[cause] = hours;
}

// The accounting's name for why an attempt was lost.
std::string LostCause(v1::EndCause cause) {
  switch (cause) {
    case v1::CAUSE_PREEMPTED: return "preemption";
    case v1::CAUSE_NODE_FAIL:
    case v1::CAUSE_LAUNCH_FAILED:
    case v1::CAUSE_WORKER_LOST: return "node_failure";
    case v1::CAUSE_HEALTH_DRAIN: return "health_drain";
    case v1::CAUSE_TIME_LIMIT: return "time_limit";
    case v1::CAUSE_RANK_FAILED: return "rank_failure";
    default: return "";
  }
}

acct::JobFacts FactsOf(const v1::Job& job) {
  acct::JobFacts facts{job.spec().tenant(), job.state() == v1::PENDING, {}};
  for (const v1::JobRun& r : job.runs()) {
    facts.runs.push_back({r.eligible_ms(), r.start_ms(), r.end_ms(), r.gpus(), r.peak_flops(),
                          r.lost(),
                          {r.steps(), r.step_time_s(), r.compute_s(), r.exposed_comm_s(),
                           r.model_flops()},
                          LostCause(r.cause())});
  }
  return facts;
}

}  // namespace

StatusOr<v1::Stats> ControlPlane::GetStats(const v1::GetStatsRequest& request) {
  if (request.window_ms() < 0) return InvalidArgument("the stats window must not be negative");
  if (request.end_ms() < 0) return InvalidArgument("the stats window's end must not be negative");
  std::lock_guard<std::mutex> commit(commit_mu_);  // the figures read the store
  std::lock_guard<std::mutex> lock(mu_);
  v1::Stats stats;
  for (const auto& [name, entry] : nodes_) {
    if (entry.node.state() != v1::DOWN) {
      stats.set_nodes_up(stats.nodes_up() + 1);
      stats.set_gpus_up(stats.gpus_up() + entry.node.gpus_size());
    } else {
      stats.set_nodes_down(stats.nodes_down() + 1);
    }
  }
  stats.set_gpus_total(core_->cluster().total_gpus());
  stats.set_gpus_allocated(core_->cluster().allocated_gpus());
  stats.set_gpus_fragmented(static_cast<int>(metrics_.levels().gpus_fragmented));
  double wait_sum = 0;
  int started = 0;
  std::map<int64_t, acct::JobFacts> facts;
  for (const auto& [id, job] : jobs_) {
    (*stats.mutable_jobs_by_state())[v1::JobState_Name(job.state())]++;
    if (job.start_time_ms() > 0) {
      wait_sum += (job.start_time_ms() - job.submit_time_ms()) / 1000.0;
      ++started;
    }
    facts[id] = FactsOf(job);
  }
  stats.set_jobs_submitted(static_cast<int64_t>(jobs_.size()));
  stats.set_mean_wait_s(started ? wait_sum / started : 0);

  const int64_t now = clock_->NowMs();
  const int64_t end = request.end_ms() > 0 ? request.end_ms() : now;
  const int64_t window = request.window_ms() > 0 ? request.window_ms() : 24 * 3600 * 1000LL;
  const int64_t from = end - window;
  metrics_.AdvanceTo(now);
  LOOM_ASSIGN_OR_RETURN(auto usage, metrics_.Usage(*store_, from, end));
  LOOM_ASSIGN_OR_RETURN(auto steps, metrics_.Steps(*store_, from, end));
  const acct::Figures figures = acct::ComputeFigures(from, end, now, usage, steps, facts);
  stats.set_window_start_ms(from);
  stats.set_window_end_ms(end);
  ToProto(figures.cluster, stats.mutable_cluster());
  for (const auto& [tenant, t] : figures.tenants) {
    v1::TenantEfficiency* out = stats.add_tenants();
    out->set_tenant(tenant);
    ToProto(t.efficiency, out->mutable_efficiency());
    out->set_share_of_allocated(t.share_of_allocated);
    out->set_pending_jobs(t.pending_jobs);
  }
  return stats;
}

acct::UsageLevels ControlPlane::UsageLevelsNow() {
  const sched::Cluster& cluster = core_->cluster();
  acct::UsageLevels levels = metrics_.levels();  // heartbeats keep gpus_busy current
  if (node_levels_stale_) {
    levels = {};
    counted_.assign(static_cast<size_t>(cluster.size()), false);
    for (const auto& [name, entry] : nodes_) {
      if (entry.node.state() == v1::DOWN) continue;
      levels.gpus_up += entry.node.gpus_size();
      for (const v1::Gpu& gpu : entry.node.gpus()) {
        levels.gpus_busy += gpu.utilization();
        levels.peak_flops_up += lifecycle::PeakFlops(gpu);
      }
      if (auto index = cluster.Find(name)) counted_[static_cast<size_t>(*index)] = true;
    }
    node_levels_stale_ = false;
  }
  levels.gpus_allocated = 0;
  for (sched::NodeIndex i = 0; i < cluster.size() && static_cast<size_t>(i) < counted_.size(); ++i) {
    if (!counted_[static_cast<size_t>(i)]) continue;
    const sched::Node& node = cluster.node(i);
    levels.gpus_allocated += node.gpu_count - node.free_count();
  }
  levels.gpus_fragmented = acct::FragmentedGpus(cluster, smallest_pending_);
  return levels;
}

std::vector<sched::TenantUsage> ControlPlane::UsageToWrite(int64_t now, bool with_other_writes) const {
  std::vector<sched::TenantUsage> usage = core_->SaveUsage();
  if (usage.empty() || usage == written_usage_) return {};
  if (!with_other_writes && now - usage_written_ms_ < kUsageWriteIntervalMs) return {};
  return usage;
}

void ControlPlane::UsageWritten(int64_t now, std::vector<sched::TenantUsage> usage) {
  if (usage.empty()) return;
  written_usage_ = std::move(usage);
  usage_written_ms_ = now;
}

}  // namespace loom
