#include "scheduler/accounting/efficiency.h"

#include <algorithm>
#include <cmath>

namespace loom::acct {
namespace {

double Ratio(double num, double den) { return den > 0 ? num / den : kUndefined; }

// Seconds of [a0, a1) that lie in [b0, b1).
double OverlapS(TimeMs a0, TimeMs a1, TimeMs b0, TimeMs b1) {
  const TimeMs lo = std::max(a0, b0), hi = std::min(a1, b1);
  return hi > lo ? (hi - lo) / 1000.0 : 0.0;
}

// What one job contributes to a set of figures, before the ratios are taken.
struct Sums {
  double allocated_gpu_s = 0, allocated_peak_flop = 0;
  double training_gpu_s = 0, useful_gpu_s = 0;
  double training_wall_gpu_s = 0;  // first start to end, per training job, × its GPUs
  std::map<std::string, double> lost_gpu_s;
  double model_flops = 0;
  std::vector<double> delays_s;
  int pending = 0;
};

void Finish(const Sums& s, Efficiency& e) {
  e.gpu_hours_allocated = s.allocated_gpu_s / 3600.0;
  e.model_flops = s.model_flops;
  e.goodput = Ratio(s.useful_gpu_s, s.training_gpu_s);
  e.ettr = Ratio(s.useful_gpu_s, s.training_wall_gpu_s);
  for (const auto& [cause, gpu_s] : s.lost_gpu_s) e.lost_gpu_hours[cause] = gpu_s / 3600.0;
  e.runs_started = static_cast<int>(s.delays_s.size());
  double sum = 0;
  for (double d : s.delays_s) sum += d;
  e.queue_delay_mean_s = s.delays_s.empty() ? 0 : sum / s.delays_s.size();
  e.queue_delay_p95_s = Percentile(s.delays_s, 95);
}

}  // namespace

UsageIntegrator::UsageIntegrator(TimeMs bucket_ms) : bucket_ms_(std::max<TimeMs>(bucket_ms, 1)) {}

void UsageIntegrator::AdvanceTo(TimeMs now) {
  if (!started_) {
    started_ = true;
    last_ = now;
    open_ = UsageBucket{now - now % bucket_ms_, bucket_ms_};
    return;
  }
  while (last_ < now) {
    const TimeMs end = std::min(now, open_.start + bucket_ms_);
    const double dt = (end - last_) / 1000.0;
    open_.gpu_up_s += levels_.gpus_up * dt;
    open_.gpu_allocated_s += levels_.gpus_allocated * dt;
    open_.gpu_busy_s += levels_.gpus_busy * dt;
    open_.gpu_fragmented_s += levels_.gpus_fragmented * dt;
    open_.peak_flop += levels_.peak_flops_up * dt;
    last_ = end;
    if (end == open_.start + bucket_ms_) {
      closed_.push_back(open_);
      open_ = UsageBucket{end, bucket_ms_};
    }
  }
}

void UsageIntegrator::Set(TimeMs now, const UsageLevels& levels) {
  AdvanceTo(now);
  levels_ = levels;
}

std::vector<UsageBucket> UsageIntegrator::TakeClosed() {
  std::vector<UsageBucket> out;
  out.swap(closed_);
  return out;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

Figures ComputeFigures(TimeMs from, TimeMs to, TimeMs now, const std::vector<UsageBucket>& usage,
                       const std::vector<StepBucket>& steps,
                       const std::map<int64_t, JobFacts>& jobs) {
  auto in_window = [&](TimeMs t) { return t >= from && t < to; };
  Figures out;
  Efficiency& c = out.cluster;
  double up_s = 0, allocated_s = 0, busy_s = 0, fragmented_s = 0, peak_flop = 0;
  for (const UsageBucket& b : usage) {
    if (!in_window(b.start)) continue;
    up_s += b.gpu_up_s, allocated_s += b.gpu_allocated_s, busy_s += b.gpu_busy_s;
    fragmented_s += b.gpu_fragmented_s, peak_flop += b.peak_flop;
  }
  c.gpu_hours_available = up_s / 3600.0;
  c.allocation_ratio = Ratio(allocated_s, up_s);
  c.gpu_busy_ratio = Ratio(busy_s, up_s);
  c.fragmentation = Ratio(fragmented_s, up_s);
  c.fragmented_gpus_mean = to > from ? fragmented_s / ((to - from) / 1000.0) : 0;

  // Model FLOPs and useful step time in the window, per job.
  std::map<int64_t, std::pair<double, double>> done;  // job -> (model FLOPs, useful GPU-seconds)
  for (const StepBucket& b : steps) {
    if (!in_window(b.start)) continue;
    auto job = jobs.find(b.job_id);
    if (job == jobs.end() || b.run < 0 || b.run >= static_cast<int>(job->second.runs.size())) continue;
    const RunFacts& run = job->second.runs[b.run];
    auto& [flops, useful] = done[b.job_id];
    flops += b.totals.model_flops;
    if (!run.lost) useful += b.totals.step_s * run.gpus;
  }

  Sums all;
  std::map<std::string, Sums> by_tenant;
  for (const auto& [id, job] : jobs) {
    Sums& t = by_tenant[job.tenant];
    if (job.pending) ++t.pending;
    bool training = false;
    for (const RunFacts& run : job.runs) training = training || run.steps.steps > 0;
    TimeMs first = 0, last = 0;
    for (const RunFacts& run : job.runs) {
      if (run.start == 0) continue;
      if (first == 0) first = run.start;
      last = run.end ? run.end : now;
      const double s = OverlapS(run.start, run.end ? run.end : now, from, to);
      for (Sums* sums : {&all, &t}) {
        if (run.lost && !run.lost_cause.empty()) sums->lost_gpu_s[run.lost_cause] += s * run.gpus;
        sums->allocated_gpu_s += s * run.gpus;
        sums->allocated_peak_flop += s * run.peak_flops;
        if (training) sums->training_gpu_s += s * run.gpus;
        if (in_window(run.start)) sums->delays_s.push_back((run.start - run.eligible) / 1000.0);
      }
    }
    if (training && first > 0) {
      // Requeued jobs wait between attempts: that wall time counts against ETTR.
      const double wall = OverlapS(first, last, from, to) * job.runs.front().gpus;
      for (Sums* sums : {&all, &t}) sums->training_wall_gpu_s += wall;
    }
    if (auto d = done.find(id); d != done.end()) {
      for (Sums* sums : {&all, &t}) {
        sums->model_flops += d->second.first;
        sums->useful_gpu_s += d->second.second;
      }
    }
  }
  Finish(all, c);
  // The cluster's allocated GPU-hours and MFU come from the usage buckets (they also count GPUs
  // held while a job's last ranks exit, and measure against every available GPU); a tenant's
  // from its runs, against the GPUs it held.
  c.gpu_hours_allocated = allocated_s / 3600.0;
  c.mfu = Ratio(all.model_flops, peak_flop);
  for (const auto& [tenant, sums] : by_tenant) {
    if (sums.allocated_gpu_s == 0 && sums.pending == 0 && sums.model_flops == 0) continue;
    TenantEfficiency& te = out.tenants[tenant];
    Finish(sums, te.efficiency);
    te.efficiency.mfu = Ratio(sums.model_flops, sums.allocated_peak_flop);
    te.share_of_allocated = Ratio(sums.allocated_gpu_s, all.allocated_gpu_s);
    te.pending_jobs = sums.pending;
  }
  return out;
}

int FragmentedGpus(const sched::Cluster& cluster, const std::optional<sched::JobRequest>& smallest) {
  if (!smallest || smallest->gpus <= 0) return 0;
  const bool multi_node = smallest->nodes() > 1;
  const int per_node = smallest->gpus_per_node > 0 ? smallest->gpus_per_node : smallest->gpus;
  int fragmented = 0;
  for (const sched::Node& node : cluster.nodes()) {
    if (!node.up || node.free_count() == 0) continue;
    const bool hosts = multi_node ? node.whole_free() && node.gpu_count >= per_node
                                  : node.free_count() >= per_node;
    if (!hosts) fragmented += node.free_count();
  }
  return fragmented;
}

}  // namespace loom::acct
