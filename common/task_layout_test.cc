#include "common/task_layout.h"

#include <gtest/gtest.h>

namespace loom {
namespace {

TEST(TaskLayoutTest, DefaultIsOneTaskPerGpu) {
  const TaskLayout l = LayoutOf(2, 4, 0);
  EXPECT_EQ(l.tasks_per_node, 4);
  EXPECT_EQ(l.tasks(), 8);
  EXPECT_EQ(l.gpus_per_task(), 1);
  EXPECT_TRUE(l.one_per_gpu());
  EXPECT_EQ(l.NodeOfTask(5), 1);
}

TEST(TaskLayoutTest, LauncherModeIsOneTaskPerNode) {
  const TaskLayout l = LayoutOf(2, 8, 1);
  EXPECT_EQ(l.tasks(), 2);
  EXPECT_EQ(l.gpus_per_task(), 8);
  EXPECT_FALSE(l.one_per_gpu());
  EXPECT_EQ(l.NodeOfTask(0), 0);
  EXPECT_EQ(l.NodeOfTask(1), 1);
  const TaskLayout split = LayoutOf(3, 8, 2);
  EXPECT_EQ(split.tasks(), 6);
  EXPECT_EQ(split.gpus_per_task(), 4);
  EXPECT_EQ(split.NodeOfTask(3), 1);
}

TEST(TaskLayoutTest, TasksMustShareTheNodesGpusEvenly) {
  EXPECT_TRUE(CheckTaskLayout(8, 0).ok());
  EXPECT_TRUE(CheckTaskLayout(8, 1).ok());
  EXPECT_TRUE(CheckTaskLayout(8, 4).ok());
  EXPECT_TRUE(CheckTaskLayout(8, 8).ok());
  EXPECT_EQ(CheckTaskLayout(8, 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTaskLayout(8, 16).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckTaskLayout(8, -1).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(CheckTaskLayout(6, 4).message().find("must divide the 6 GPUs per node"), std::string::npos);
}

}  // namespace
}  // namespace loom
