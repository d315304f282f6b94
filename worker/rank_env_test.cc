#include "worker/rank_env.h"

#include <gtest/gtest.h>

namespace loom::worker {
namespace {

v1::LaunchRequest TwoNodeLaunch(int node_index) {
  v1::LaunchRequest l;
  v1::Job* job = l.mutable_job();
  job->set_id(42);
  job->set_master_port(20042);
  job->mutable_spec()->set_gpus(8);
  job->mutable_spec()->set_name("train");
  for (int n = 0; n < 2; ++n) {
    auto* a = job->add_allocation();
    a->set_node("node-" + std::to_string(n));
    for (int g = 0; g < 4; ++g) a->add_gpu_indices(g);
    v1::Node* node = l.add_nodes();
    node->set_name(a->node());
    node->set_host("10.0.0." + std::to_string(n + 1));
    auto* gpu = node->add_gpus();
    gpu->set_model("H100-SXM-80GB");
    gpu->set_emulated(true);
  }
  l.set_node_index(node_index);
  return l;
}

TEST(RankEnvTest, TorchDistributedVariablesFollowNodeOrder) {
  EnvMap env = RankEnv(TwoNodeLaunch(1), 2);
  EXPECT_EQ(env["RANK"], "6");
  EXPECT_EQ(env["LOCAL_RANK"], "2");
  EXPECT_EQ(env["WORLD_SIZE"], "8");
  EXPECT_EQ(env["LOCAL_WORLD_SIZE"], "4");
  EXPECT_EQ(env["NODE_RANK"], "1");
  EXPECT_EQ(env["MASTER_ADDR"], "10.0.0.1");  // node 0 hosts rank 0
  EXPECT_EQ(env["MASTER_PORT"], "20042");
  EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], "0,1,2,3");
  EXPECT_EQ(env["LOOM_JOB_ID"], "42");
  EXPECT_EQ(env["LOOM_NODELIST"], "node-0,node-1");
  EXPECT_EQ(env["LOOM_EMULATED_GPUS"], "1");
  EXPECT_EQ(env["LOOM_JOB_RUN"], "1");  // the first attempt
}

TEST(RankEnvTest, JobRunIsTheAttempt) {
  v1::LaunchRequest l = TwoNodeLaunch(0);
  for (int i = 0; i < 3; ++i) l.mutable_job()->add_runs();  // an older loomd: its runs count
  EXPECT_EQ(RankEnv(l, 0)["LOOM_JOB_RUN"], "3");
  l.mutable_job()->set_attempt(4);  // loomd names the attempt: that wins
  EXPECT_EQ(RankEnv(l, 0)["LOOM_JOB_RUN"], "4");
}

TEST(RankEnvTest, UserEnvironmentOverridesOurs) {
  v1::LaunchRequest l = TwoNodeLaunch(0);
  (*l.mutable_job()->mutable_spec()->mutable_env())["MASTER_PORT"] = "1234";
  (*l.mutable_job()->mutable_spec()->mutable_env())["NCCL_DEBUG"] = "INFO";
  EnvMap env = RankEnv(l, 0);
  EXPECT_EQ(env["MASTER_PORT"], "1234");
  EXPECT_EQ(env["NCCL_DEBUG"], "INFO");
  EXPECT_EQ(env["RANK"], "0");
}

TEST(RankEnvTest, JobCannotOverrideGpuBindingOrCredential) {
  v1::LaunchRequest l = TwoNodeLaunch(0);
  l.set_job_token("job_42_1_abc");
  auto& env_in = *l.mutable_job()->mutable_spec()->mutable_env();
  env_in["CUDA_VISIBLE_DEVICES"] = "0,1,2,3,4,5,6,7";
  env_in["NVIDIA_VISIBLE_DEVICES"] = "all";
  env_in["LOOM_JOB_TOKEN"] = "forged";
  env_in["LOOM_JOB_ID"] = "1";
  for (const EnvMap& env : {RankEnv(l, 0), NodeEnv(l)}) {
    EXPECT_EQ(env.at("CUDA_VISIBLE_DEVICES"), "0,1,2,3");
    EXPECT_EQ(env.at("NVIDIA_VISIBLE_DEVICES"), "0,1,2,3");
    EXPECT_EQ(env.at("LOOM_JOB_TOKEN"), "job_42_1_abc");
    EXPECT_EQ(env.at("LOOM_JOB_ID"), "42");
  }
  EXPECT_EQ(NodeEnv(l).count("RANK"), 0u);  // per-node processes (orted) get no rank
}


TEST(RankEnvTest, LauncherModeIsOneTaskPerNodeSeeingAllItsGpus) {
  v1::LaunchRequest l = TwoNodeLaunch(1);
  l.mutable_job()->mutable_spec()->set_tasks_per_node(1);
  const TaskLayout layout = NodeLayout(l);
  EXPECT_EQ(layout.tasks_per_node, 1);
  EXPECT_EQ(layout.tasks(), 2);
  EnvMap env = RankEnv(l, 0);
  // What torchrun --nnodes/--node-rank/--nproc-per-node/--master-* are given.
  EXPECT_EQ(env["LOOM_NNODES"], "2");
  EXPECT_EQ(env["NODE_RANK"], "1");
  EXPECT_EQ(env["LOCAL_WORLD_SIZE"], "4");
  EXPECT_EQ(env["MASTER_ADDR"], "10.0.0.1");
  EXPECT_EQ(env["MASTER_PORT"], "20042");
  // The task's own rank among tasks (SLURM_PROCID / SLURM_NTASKS), not among GPUs.
  EXPECT_EQ(env["RANK"], "1");
  EXPECT_EQ(env["LOCAL_RANK"], "0");
  EXPECT_EQ(env["WORLD_SIZE"], "2");
  EXPECT_EQ(env["LOOM_NTASKS"], "2");
  EXPECT_EQ(env["LOOM_GPUS_PER_TASK"], "4");
  EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], "0,1,2,3");
  EXPECT_EQ(env["NVIDIA_VISIBLE_DEVICES"], "0,1,2,3");
}

TEST(RankEnvTest, TasksSplitTheNodesGpus) {
  v1::LaunchRequest l = TwoNodeLaunch(1);
  l.mutable_job()->mutable_allocation(1)->clear_gpu_indices();
  for (int g : {4, 5, 6, 7}) l.mutable_job()->mutable_allocation(1)->add_gpu_indices(g);
  l.mutable_job()->mutable_spec()->set_tasks_per_node(2);
  EXPECT_EQ(TaskGpus(l, 0), (std::vector<int>{4, 5}));
  EXPECT_EQ(TaskGpus(l, 1), (std::vector<int>{6, 7}));
  EnvMap env = RankEnv(l, 1);
  EXPECT_EQ(env["RANK"], "3");  // node 1's second task of two per node
  EXPECT_EQ(env["LOCAL_RANK"], "1");
  EXPECT_EQ(env["WORLD_SIZE"], "4");
  EXPECT_EQ(env["LOOM_TASKS_PER_NODE"], "2");
  EXPECT_EQ(env["CUDA_VISIBLE_DEVICES"], "6,7");
  // The user cannot widen a task's share either.
  (*l.mutable_job()->mutable_spec()->mutable_env())["CUDA_VISIBLE_DEVICES"] = "4,5,6,7";
  EXPECT_EQ(RankEnv(l, 0)["CUDA_VISIBLE_DEVICES"], "4,5");
  EXPECT_EQ(NodeEnv(l)["CUDA_VISIBLE_DEVICES"], "4,5,6,7");  // per-node daemons see the node's
}

TEST(RankEnvTest, DefaultModeKeepsEveryGpuVisibleToEveryRank) {
  v1::LaunchRequest l = TwoNodeLaunch(0);
  EXPECT_EQ(TaskGpus(l, 3), (std::vector<int>{0, 1, 2, 3}));
  l.mutable_job()->mutable_spec()->set_tasks_per_node(4);  // said explicitly: the same
  EXPECT_EQ(RankEnv(l, 3)["CUDA_VISIBLE_DEVICES"], "0,1,2,3");
  EXPECT_EQ(RankEnv(l, 3)["RANK"], "3");
  EXPECT_EQ(RankEnv(l, 3)["WORLD_SIZE"], "8");
}

}  // namespace
}  // namespace loom::worker
