#include "worker/worker_metrics.h"

#include <gtest/gtest.h>

namespace loom::worker {
namespace {

TEST(WorkerMetrics, OneSeriesPerGpuWithDcgmStyleLabels) {
  v1::Node node;
  node.set_name("n1");
  for (int i = 0; i < 2; ++i) {
    v1::Gpu* g = node.add_gpus();
    g->set_index(i);
    g->set_model("H100-SXM-80GB");
    g->set_memory_bytes(80LL << 30);
    g->set_emulated(true);
    g->set_peak_tflops(0.5);
  }
  std::string t = metrics::Render(WorkerFamilies(node, {0.25, 1}, 3));
  EXPECT_NE(t.find("loom_gpu_utilization_ratio{node=\"n1\",gpu=\"0\",model_name=\"H100-SXM-80GB\"} 0.25\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find("loom_gpu_utilization_ratio{node=\"n1\",gpu=\"1\",model_name=\"H100-SXM-80GB\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("loom_gpu_memory_total_bytes{node=\"n1\",gpu=\"1\",model_name=\"H100-SXM-80GB\"} 85899345920\n"),
            std::string::npos);
  EXPECT_NE(t.find("loom_gpu_peak_flops{node=\"n1\",gpu=\"0\",model_name=\"H100-SXM-80GB\"} 500000000000\n"),
            std::string::npos);
  EXPECT_NE(t.find("loom_worker_jobs_running{node=\"n1\"} 3\n"), std::string::npos);
}

TEST(WorkerMetrics, NoSampleYetMeansNoUtilizationSeries) {
  v1::Node node;
  node.set_name("n1");
  node.add_gpus()->set_index(0);
  std::string t = metrics::Render(WorkerFamilies(node, {}, 0));
  EXPECT_EQ(t.find("loom_gpu_utilization_ratio{"), std::string::npos);
  EXPECT_NE(t.find("loom_gpu_memory_total_bytes{node=\"n1\",gpu=\"0\""), std::string::npos);
}

}  // namespace
}  // namespace loom::worker
