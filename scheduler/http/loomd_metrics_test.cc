#include "scheduler/http/loomd_metrics.h"

#include <gtest/gtest.h>

namespace loom::http {
namespace {

v1::Node MakeNode(const std::string& name, v1::NodeState state, int gpus, std::vector<int> allocated, double util) {
  v1::Node n;
  n.set_name(name);
  n.set_state(state);
  (*n.mutable_labels())["leaf"] = "L1";
  for (int i = 0; i < gpus; ++i) {
    v1::Gpu* g = n.add_gpus();
    g->set_index(i);
    g->set_utilization(util);
  }
  for (int a : allocated) n.add_allocated_gpus(a);
  return n;
}

v1::Job MakeJob(int64_t id, v1::JobState state, const std::string& tenant, int gpus) {
  v1::Job j;
  j.set_id(id);
  j.set_state(state);
  j.mutable_spec()->set_name("job" + std::to_string(id));
  j.mutable_spec()->set_tenant(tenant);
  j.mutable_spec()->set_gpus(gpus);
  return j;
}

std::string Text(const std::vector<v1::Node>& nodes, const std::vector<v1::Job>& jobs, const v1::Stats& stats = {}) {
  return metrics::Render(LoomdFamilies(nodes, jobs, stats));
}

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(LoomdMetrics, NodesAndGpusByState) {
  std::string t = Text({MakeNode("n1", v1::UP, 4, {0, 1}, 0.5), MakeNode("n2", v1::DOWN, 4, {}, 0.9)}, {});
  EXPECT_TRUE(Has(t, "loom_nodes{state=\"up\"} 1")) << t;
  EXPECT_TRUE(Has(t, "loom_nodes{state=\"down\"} 1"));
  EXPECT_TRUE(Has(t, "loom_nodes{state=\"drained\"} 0"));
  EXPECT_TRUE(Has(t, "loom_gpus{state=\"total\"} 8"));
  EXPECT_TRUE(Has(t, "loom_gpus{state=\"up\"} 4"));
  EXPECT_TRUE(Has(t, "loom_gpus{state=\"allocated\"} 2"));
  EXPECT_TRUE(Has(t, "loom_gpus{state=\"busy\"} 2"));  // 4 x 0.5; the DOWN node's GPUs do not count
  EXPECT_TRUE(Has(t, "loom_node_info{node=\"n1\",state=\"up\",leaf=\"L1\",spine=\"\"} 1"));
  EXPECT_TRUE(Has(t, "loom_node_gpu_utilization_ratio{node=\"n1\"} 0.5"));
  EXPECT_EQ(t.find("loom_node_gpu_utilization_ratio{node=\"n2\"}"), std::string::npos);
}

TEST(LoomdMetrics, JobsByStateAndTenantAndPendingDemand) {
  v1::Job held = MakeJob(5, v1::PENDING, "a", 16);
  held.set_wait(v1::WAIT_HELD);  // a job, but no demand
  std::string t = Text({}, {MakeJob(1, v1::PENDING, "a", 4), MakeJob(2, v1::PENDING, "a", 8),
                            MakeJob(3, v1::RUNNING, "b", 2), MakeJob(4, v1::COMPLETED, "a", 1), held});
  EXPECT_TRUE(Has(t, "loom_jobs{state=\"pending\",tenant=\"a\"} 3")) << t;
  EXPECT_TRUE(Has(t, "loom_jobs{state=\"running\",tenant=\"b\"} 1"));
  EXPECT_TRUE(Has(t, "loom_jobs{state=\"completed\",tenant=\"a\"} 1"));
  EXPECT_TRUE(Has(t, "loom_pending_gpus{tenant=\"a\"} 12"));
  EXPECT_EQ(t.find("loom_pending_gpus{tenant=\"b\"}"), std::string::npos);
}

TEST(LoomdMetrics, RunningTrainingJobFigures) {
  v1::Job j = MakeJob(7, v1::RUNNING, "a", 2);
  v1::JobRun* r = j.add_runs();
  r->set_steps(10);
  r->set_step_time_s(5);        // 0.5 s a step
  r->set_exposed_comm_s(1);     // 0.1 s a step
  r->set_peak_flops(1e12);
  r->set_model_flops(2e12);     // 2e12 / (1e12 x 5 s) = 0.4
  v1::Job idle = MakeJob(8, v1::RUNNING, "a", 1);  // no steps: no figures
  std::string t = Text({}, {j, idle});
  EXPECT_TRUE(Has(t, "loom_job_mfu_ratio{job=\"7\",name=\"job7\",tenant=\"a\"} 0.40000000000000002")) << t;
  EXPECT_TRUE(Has(t, "loom_job_step_seconds{job=\"7\",name=\"job7\",tenant=\"a\"} 0.5"));
  EXPECT_TRUE(Has(t, "loom_job_exposed_comm_seconds{job=\"7\",name=\"job7\",tenant=\"a\"} 0.10000000000000001"));
  EXPECT_EQ(t.find("job=\"8\""), std::string::npos);
}

TEST(LoomdMetrics, EfficiencyRatiosLeaveOutUnknown) {
  v1::Stats s;
  s.set_jobs_submitted(42);
  s.mutable_cluster()->set_allocation_ratio(0.75);
  s.mutable_cluster()->set_mfu(-1);  // no training job: unknown
  v1::TenantEfficiency* te = s.add_tenants();
  te->set_tenant("research");
  te->set_share_of_allocated(0.6);
  std::string t = Text({}, {}, s);
  EXPECT_TRUE(Has(t, "loom_jobs_submitted_total 42")) << t;
  EXPECT_TRUE(Has(t, "loom_cluster_allocation_ratio 0.75"));
  EXPECT_EQ(t.find("\nloom_cluster_mfu_ratio "), std::string::npos);
  EXPECT_NE(t.find("# TYPE loom_cluster_mfu_ratio gauge"), std::string::npos);
  EXPECT_TRUE(Has(t, "loom_tenant_allocation_share_ratio{tenant=\"research\"} 0.59999999999999998"));
}

}  // namespace
}  // namespace loom::http
