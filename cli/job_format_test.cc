#include "cli/job_format.h"

#include <gtest/gtest.h>

namespace loom::cli {
namespace {

v1::JobSpec Spec(int gpus, int per_node, int tasks_per_node) {
  v1::JobSpec s;
  s.set_gpus(gpus);
  s.set_gpus_per_node(per_node);
  s.set_tasks_per_node(tasks_per_node);
  return s;
}

TEST(JobFormatTest, TasksLineCountsProcessesNotGpus) {
  EXPECT_EQ(TasksLine(Spec(4, 2, 0)), "4 (one per GPU)");
  EXPECT_EQ(TasksLine(Spec(4, 2, 1)), "2 (1 per node, 2 GPUs each)");
  EXPECT_EQ(TasksLine(Spec(16, 8, 2)), "4 (2 per node, 4 GPUs each)");
  EXPECT_EQ(TasksLine(Spec(8, 4, 4)), "8 (4 per node, 1 GPU each)");
}

}  // namespace
}  // namespace loom::cli
