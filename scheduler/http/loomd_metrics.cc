#include "scheduler/http/loomd_metrics.h"

#include <map>
#include <set>
#include <string>

namespace loom::http {
namespace {

using metrics::Add;
using metrics::AddFamily;
using metrics::Type;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Label(const v1::Node& n, const std::string& key) {
  auto it = n.labels().find(key);
  return it == n.labels().end() ? "" : it->second;
}

void NodeFamilies(const std::vector<v1::Node>& nodes, std::vector<metrics::Family>& out) {
  std::map<std::string, int> by_state;
  for (int s = v1::UP; s <= v1::DRAINED; ++s) by_state[Lower(v1::NodeState_Name(static_cast<v1::NodeState>(s)))] = 0;
  int total = 0, up = 0, allocated = 0;
  double busy = 0;
  for (const v1::Node& n : nodes) {
    ++by_state[Lower(v1::NodeState_Name(n.state()))];
    total += n.gpus_size();
    if (n.state() == v1::DOWN) continue;
    up += n.gpus_size();
    allocated += n.allocated_gpus_size();
    for (const v1::Gpu& g : n.gpus()) busy += g.utilization();
  }
  metrics::Family& f = AddFamily(out, "loom_nodes", "Nodes by state", Type::kGauge);
  for (const auto& [state, count] : by_state) Add(f, {{"state", state}}, count);

  metrics::Family& g = AddFamily(out, "loom_gpus",
      "GPUs: total, up (on nodes not DOWN), allocated to jobs, busy (sum of busy fractions)", Type::kGauge);
  Add(g, {{"state", "total"}}, total);
  Add(g, {{"state", "up"}}, up);
  Add(g, {{"state", "allocated"}}, allocated);
  Add(g, {{"state", "busy"}}, busy);

  metrics::Family& info = AddFamily(out, "loom_node_info", "One per node: its state and topology", Type::kGauge);
  for (const v1::Node& n : nodes) {
    Add(info, {{"node", n.name()}, {"state", Lower(v1::NodeState_Name(n.state()))}, {"leaf", Label(n, "leaf")},
               {"spine", Label(n, "spine")}}, 1);
  }
  metrics::Family& ng = AddFamily(out, "loom_node_gpus", "GPUs of each node, total and allocated", Type::kGauge);
  for (const v1::Node& n : nodes) {
    Add(ng, {{"node", n.name()}, {"state", "total"}}, n.gpus_size());
    Add(ng, {{"node", n.name()}, {"state", "allocated"}}, n.allocated_gpus_size());
  }
  metrics::Family& nu = AddFamily(out, "loom_node_gpu_utilization_ratio",
      "Mean busy fraction of a node's GPUs over its last heartbeat interval", Type::kGauge);
  for (const v1::Node& n : nodes) {
    if (n.gpus_size() == 0 || n.state() == v1::DOWN) continue;
    double sum = 0;
    for (const v1::Gpu& gpu : n.gpus()) sum += gpu.utilization();
    Add(nu, {{"node", n.name()}}, sum / n.gpus_size());
  }
}

void JobFamilies(const std::vector<v1::Job>& jobs, std::vector<metrics::Family>& out) {
  std::map<std::pair<std::string, std::string>, int> by_state_tenant;
  std::map<std::string, int> pending_gpus;
  for (const v1::Job& j : jobs) {
    ++by_state_tenant[{Lower(v1::JobState_Name(j.state())), j.spec().tenant()}];
    // Demand the scheduler sees: held, dependent and array-limited jobs wait outside the queue.
    if (j.state() == v1::PENDING && j.wait() == v1::WAIT_NONE) pending_gpus[j.spec().tenant()] += j.spec().gpus();
  }
  metrics::Family& f = AddFamily(out, "loom_jobs", "Jobs loomd holds in memory, by state and tenant", Type::kGauge);
  for (const auto& [key, count] : by_state_tenant) Add(f, {{"state", key.first}, {"tenant", key.second}}, count);
  metrics::Family& p = AddFamily(out, "loom_pending_gpus", "GPUs asked for by queued pending jobs (not held or waiting), by tenant", Type::kGauge);
  for (const auto& [tenant, gpus] : pending_gpus) Add(p, {{"tenant", tenant}}, gpus);

  metrics::Family& mfu = AddFamily(out, "loom_job_mfu_ratio",
      "A running training job's MFU over its current run's reported steps", Type::kGauge);
  std::vector<std::pair<metrics::Labels, RunFigures>> running;
  for (const v1::Job& j : jobs) {
    if (j.state() != v1::RUNNING) continue;
    RunFigures r = FiguresOf(j);
    if (r.steps == 0) continue;
    running.push_back({{{"job", std::to_string(j.id())}, {"name", j.spec().name()}, {"tenant", j.spec().tenant()}}, r});
  }
  for (const auto& [labels, r] : running) Add(mfu, labels, r.mfu);
  metrics::Family& step = AddFamily(out, "loom_job_step_seconds", "A running training job's mean step time", Type::kGauge);
  for (const auto& [labels, r] : running) Add(step, labels, r.step_s);
  metrics::Family& comm = AddFamily(out, "loom_job_exposed_comm_seconds",
      "A running training job's mean communication per step not hidden behind compute", Type::kGauge);
  for (const auto& [labels, r] : running) Add(comm, labels, r.exposed_comm_s);
}

// Ratios are -1 in Stats where their denominator is zero: such a sample is left out.
void AddRatio(metrics::Family& f, metrics::Labels labels, double v) {
  if (v >= 0) Add(f, std::move(labels), v);
}

void StatsFamilies(const v1::Stats& s, std::vector<metrics::Family>& out) {
  Add(AddFamily(out, "loom_jobs_submitted_total", "Jobs submitted since the database was created", Type::kCounter),
      {}, static_cast<double>(s.jobs_submitted()));
  Add(AddFamily(out, "loom_gpus_fragmented", "Idle GPUs too scattered for the smallest pending job", Type::kGauge),
      {}, s.gpus_fragmented());
  const v1::Efficiency& c = s.cluster();
  AddRatio(AddFamily(out, "loom_cluster_allocation_ratio",
                     "GPU-hours allocated / available over the last hour", Type::kGauge), {}, c.allocation_ratio());
  AddRatio(AddFamily(out, "loom_cluster_gpu_busy_ratio",
                     "GPUs' busy fraction over available GPU-hours, last hour", Type::kGauge), {}, c.gpu_busy_ratio());
  AddRatio(AddFamily(out, "loom_cluster_mfu_ratio",
                     "Model FLOPs / peak FLOPs of the available GPU-hours, last hour", Type::kGauge), {}, c.mfu());
  AddRatio(AddFamily(out, "loom_cluster_goodput_ratio",
                     "Useful step GPU-time / GPU-time held by training jobs, last hour", Type::kGauge), {}, c.goodput());
  AddRatio(AddFamily(out, "loom_queue_delay_mean_seconds",
                     "Mean wait from eligible to start of runs started in the last hour", Type::kGauge), {},
           c.queue_delay_mean_s());
  metrics::Family& share = AddFamily(out, "loom_tenant_allocation_share_ratio",
      "A tenant's share of the allocated GPU-hours over the last hour (its fair-share usage)", Type::kGauge);
  for (const v1::TenantEfficiency& t : s.tenants()) AddRatio(share, {{"tenant", t.tenant()}}, t.share_of_allocated());
  metrics::Family& held = AddFamily(out, "loom_tenant_allocated_gpu_seconds",
      "GPU-seconds a tenant's jobs held over the last hour", Type::kGauge);
  for (const v1::TenantEfficiency& t : s.tenants()) {
    AddRatio(held, {{"tenant", t.tenant()}}, t.efficiency().gpu_hours_allocated() * 3600);
  }
  metrics::Family& tmfu = AddFamily(out, "loom_tenant_mfu_ratio",
      "A tenant's model FLOPs / peak FLOPs of its allocated GPU-hours, last hour", Type::kGauge);
  for (const v1::TenantEfficiency& t : s.tenants()) AddRatio(tmfu, {{"tenant", t.tenant()}}, t.efficiency().mfu());
}

}  // namespace

RunFigures FiguresOf(const v1::Job& job) {
  RunFigures r;
  if (job.runs().empty()) return r;
  const v1::JobRun& run = job.runs(job.runs_size() - 1);
  if (run.steps() <= 0 || run.step_time_s() <= 0) return r;
  r.steps = run.steps();
  r.step_s = run.step_time_s() / static_cast<double>(run.steps());
  r.exposed_comm_s = run.exposed_comm_s() / static_cast<double>(run.steps());
  r.mfu = run.peak_flops() > 0 ? run.model_flops() / (run.peak_flops() * run.step_time_s()) : 0;
  return r;
}

std::vector<metrics::Family> LoomdFamilies(const std::vector<v1::Node>& nodes,
                                           const std::vector<v1::Job>& jobs, const v1::Stats& stats) {
  std::vector<metrics::Family> out;
  NodeFamilies(nodes, out);
  JobFamilies(jobs, out);
  StatsFamilies(stats, out);
  return out;
}

}  // namespace loom::http
