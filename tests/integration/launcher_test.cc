// Launcher mode (--tasks-per-node) on a real cluster: loomd and two emulated nodes of two GPUs,
// loopback. torchrun (Debian's python3-torch) starts the ranks of a one-step DDP program on each
// node; the test checks the ranks' RANK/WORLD_SIZE and that DDP's gradients agree. Skips when
// torch cannot be imported (scripts/install-deps.sh installs it, so CI runs it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/integration/local_cluster.h"

namespace loom::testing {
namespace {

LocalCluster::Options TwoByTwo() {
  LocalCluster::Options o;
  o.workers = 2;
  o.gpus_per_worker = 2;
  return o;
}

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start().ok()) << "cluster did not start"; }
  LocalCluster cluster_{TwoByTwo()};
};

// How to start torchrun here: Debian's script where it works, else the module it runs; empty
// when torch cannot be imported at all.
std::string Torchrun() {
  if (std::system("torchrun --help >/dev/null 2>&1") == 0) return "torchrun";
  if (std::system("python3 -c 'import torch.distributed.run' >/dev/null 2>&1") == 0) return "python3 -m torch.distributed.run";
  return "";
}

TEST_F(LauncherTest, OneTaskPerNodeSeesEveryGpuOfItsNode) {
  const std::string dir = cluster_.MakeDir("tasks");
  auto id = cluster_.Submit({"--gpus", "4", "--gpus-per-node", "2", "--tasks-per-node", "1", "-D", dir, "--",
                             "/bin/sh", "-c",
                             "echo \"$RANK $WORLD_SIZE $LOCAL_RANK $NODE_RANK $LOOM_NNODES $LOCAL_WORLD_SIZE "
                             "$CUDA_VISIBLE_DEVICES\" > task.$RANK; echo task $RANK"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::COMPLETED);
  ASSERT_TRUE(job.ok()) << job.status().message();
  ASSERT_EQ(job->allocation_size(), 2);
  for (int t = 0; t < 2; ++t) {
    std::istringstream line(ReadFile(dir + "/task." + std::to_string(t)));
    int rank, world, local, node_rank, nnodes, local_world;
    std::string gpus;
    ASSERT_TRUE(line >> rank >> world >> local >> node_rank >> nnodes >> local_world >> gpus) << t;
    EXPECT_EQ(rank, t);
    EXPECT_EQ(world, 2);  // tasks, not GPUs
    EXPECT_EQ(local, 0);
    EXPECT_EQ(node_rank, t);
    EXPECT_EQ(nnodes, 2);
    EXPECT_EQ(local_world, 2);  // what torchrun's --nproc-per-node takes
    EXPECT_EQ(gpus, "0,1");
  }
  EXPECT_EQ(ReadFile(dir + "/task.2"), "");  // two processes, not four
  CommandResult logs = cluster_.Loom({"logs", std::to_string(*id), "--rank", "1"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out, "task 1\n");
  CommandResult beyond = cluster_.Loom({"logs", std::to_string(*id), "--rank", "2"});
  EXPECT_NE(beyond.exit_code, 0);
  EXPECT_NE(beyond.err.find("ranks 0..1"), std::string::npos) << beyond.err;
  CommandResult show = cluster_.Loom({"show", std::to_string(*id)});
  EXPECT_NE(show.out.find("2 (1 per node, 2 GPUs each)"), std::string::npos) << show.out;
}

TEST_F(LauncherTest, TasksThatCannotShareTheGpusEvenlyAreRefused) {
  CommandResult r = cluster_.Loom({"submit", "--gpus", "4", "--gpus-per-node", "2", "--tasks-per-node", "3", "--",
                                   "/bin/true"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--tasks-per-node 3 must divide the 2 GPUs per node"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  CommandResult zero = cluster_.Loom({"submit", "--tasks-per-node", "0", "--", "/bin/true"});
  EXPECT_NE(zero.exit_code, 0);
  EXPECT_NE(zero.err.find("--tasks-per-node must be at least 1"), std::string::npos) << zero.err;
  CommandResult queue = cluster_.Loom({"queue", "--all"});
  EXPECT_EQ(queue.out.find("true"), std::string::npos) << queue.out;  // nothing was queued
}

TEST_F(LauncherTest, MpiWithOneTaskPerNodeStartsOneRankPerNode) {
  const std::string dir = cluster_.MakeDir("mpi");
  auto id = cluster_.Submit({"--mpi", "--gpus", "4", "--gpus-per-node", "2", "--tasks-per-node", "1", "-D", dir,
                             "--time", "2m", "--", LOOM_MPI_ALLREDUCE});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(60));
  ASSERT_TRUE(job.ok()) << job.status().message() << "\n" << cluster_.Loom({"logs", std::to_string(*id), "--stderr"}).out;
  for (int r = 0; r < 2; ++r) {
    std::istringstream line(ReadFile(dir + "/allreduce." + std::to_string(r)));
    int rank, size;
    long sum;
    ASSERT_TRUE(line >> rank >> size >> sum) << "rank " << r << " wrote nothing";
    EXPECT_EQ(rank, r);
    EXPECT_EQ(size, 2);  // one rank per node, not per GPU
    EXPECT_EQ(sum, 3);   // 1 + 2
  }
  EXPECT_EQ(ReadFile(dir + "/allreduce.2"), "");
}

TEST_F(LauncherTest, TorchrunPerNodeRunsDdpWithAgreeingGradients) {
  const std::string torchrun = Torchrun();
  if (torchrun.empty()) GTEST_SKIP() << "torch cannot be imported: no torchrun (apt-get install python3-torch)";
  const std::string dir = cluster_.MakeDir("torchrun");
  const std::string command = torchrun +
                              // torch 1.13 (Debian 12) knows only the underscore spellings; 2.x takes both.
                              // On Python 3.11 its default --redirects/--tee 0 parse to None and
                              // torchrun crashes (docs/LAUNCHER.md): name non-zero ones.
                              " --nnodes $LOOM_NNODES --nproc_per_node 2 --node_rank $NODE_RANK --redirects 1 --tee 1"
                              " --master_addr $MASTER_ADDR --master_port $MASTER_PORT " LOOM_DDP_STEP;
  auto id = cluster_.Submit({"--gpus", "4", "--gpus-per-node", "2", "--tasks-per-node", "1", "--time", "5m",
                             "-D", dir, "-e", "GLOO_SOCKET_IFNAME=lo", "-e", "OMP_NUM_THREADS=1", "--",
                             "sh", "-c", command});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = cluster_.WaitForState(*id, v1::COMPLETED, std::chrono::seconds(240));
  ASSERT_TRUE(job.ok()) << job.status().message() << "\n"
                        << cluster_.Loom({"logs", std::to_string(*id), "--stderr"}).out
                        << cluster_.Loom({"logs", std::to_string(*id), "--rank", "1", "--stderr"}).out;
  std::vector<nlohmann::json> ranks;
  for (int r = 0; r < 4; ++r) {
    const std::string text = ReadFile(dir + "/ddp." + std::to_string(r) + ".json");
    ASSERT_FALSE(text.empty()) << "rank " << r << " wrote nothing";
    ranks.push_back(nlohmann::json::parse(text));
    EXPECT_EQ(ranks[r]["rank"], r);
    EXPECT_EQ(ranks[r]["world_size"], 4);
    EXPECT_EQ(ranks[r]["env_rank"], std::to_string(r));
    EXPECT_EQ(ranks[r]["env_world_size"], "4");
    EXPECT_EQ(ranks[r]["local_rank"], std::to_string(r % 2));
  }
  // DDP averaged the gradients: every rank holds rank 0's; without DDP they differ (own batches).
  bool locals_differ = false;
  for (int r = 1; r < 4; ++r) {
    const auto& mine = ranks[r]["ddp_grads"];
    const auto& first = ranks[0]["ddp_grads"];
    ASSERT_EQ(mine.size(), first.size());
    for (size_t p = 0; p < mine.size(); ++p) {
      ASSERT_EQ(mine[p].size(), first[p].size());
      for (size_t i = 0; i < mine[p].size(); ++i) {
        EXPECT_NEAR(mine[p][i].get<double>(), first[p][i].get<double>(), 1e-6) << "rank " << r << " param " << p;
      }
    }
    locals_differ |= ranks[r]["local_grads"] != ranks[0]["local_grads"];
  }
  EXPECT_TRUE(locals_differ) << "every rank computed the same local gradients: the check above proves nothing";
}

}  // namespace
}  // namespace loom::testing
