#include "kernels/train/train_cli.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace loom::train::cli {
namespace {

StatusOr<Flags> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "loom-train");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseFlags(static_cast<int>(argv.size()), argv.data());
}

TEST(TrainCliTest, DefaultsAreTheCpuRunOfBefore) {
  auto f = Parse({});
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->gpu);
  EXPECT_EQ(f->shape.layers, 4);
  EXPECT_EQ(f->steps, 5);
  EXPECT_EQ(f->optimizer, Optimizer::kAdam);
}

TEST(TrainCliTest, GpuFlags) {
  auto f = Parse({"--device", "gpu", "--preset", "7B", "--layers", "fit", "--gemm=cublas",
                  "--optimizer", "sgd", "--json"});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->gpu);
  EXPECT_TRUE(f->layers_fit);
  EXPECT_EQ(f->shape.hidden, 4096);
  EXPECT_EQ(f->gemm, gemm::Backend::kCublas);
  EXPECT_EQ(f->optimizer, Optimizer::kSgd);
  EXPECT_TRUE(f->json);
  auto plain = Parse({"--device", "gpu"});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->gemm, gemm::Backend::kLoom);  // our kernel unless told otherwise
}

TEST(TrainCliTest, BadInputIsOneLineNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--device", "tpu"}, "--device"},
      {{"--device", "gpu", "--gemm", "cpu"}, "--gemm"},
      {{"--gemm", "cublas"}, "needs --device gpu"},
      {{"--layers", "fit"}, "needs --device gpu"},
      {{"--layers", "-3"}, "--layers"},
      {{"--optimizer", "lion"}, "--optimizer"},
      {{"--steps", "0"}, "--steps"},
      {{"--frobnicate", "1"}, "unknown flag"},
      {{"--steps"}, "needs a value"},
  };
  for (const auto& [args, want] : cases) {
    auto f = Parse(args);
    ASSERT_FALSE(f.ok()) << args[0];
    EXPECT_NE(f.status().message().find(want), std::string::npos) << f.status().message();
    EXPECT_EQ(f.status().message().find('\n'), std::string::npos);
  }
  EXPECT_TRUE(Parse({"--help"}).status().message().empty());
}

TEST(TrainCliTest, RankComesFromTheLauncher) {
  unsetenv("OMPI_COMM_WORLD_RANK");
  unsetenv("PMI_RANK");
  setenv("RANK", "3", 1);
  EXPECT_EQ(RankFromEnvironment(), 3);
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  EXPECT_EQ(RankFromEnvironment(), 1);
  unsetenv("OMPI_COMM_WORLD_RANK");
  unsetenv("RANK");
  EXPECT_EQ(RankFromEnvironment(), 0);
}

TEST(TrainCliTest, GpuRunIsOneProcessUnlessWorldSizeSaysOtherwise) {
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
  auto single = GpuLaunchEnvironment();
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->world_size, 1);
  EXPECT_EQ(single->local_rank, 0);
  setenv("WORLD_SIZE", "1", 1);
  setenv("LOCAL_RANK", "3", 1);  // a one-GPU job on the node's fourth GPU
  single = GpuLaunchEnvironment();
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->world_size, 1);
  EXPECT_EQ(single->local_rank, 3);
  setenv("LOCAL_RANK", "x", 1);
  EXPECT_NE(GpuLaunchEnvironment().status().message().find("LOCAL_RANK"), std::string::npos);
  setenv("LOCAL_RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);  // a job: the rendezvous variables must all be there
  EXPECT_EQ(GpuLaunchEnvironment().status().code(), StatusCode::kInvalidArgument);
  setenv("RANK", "1", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "29500", 1);
  auto job = GpuLaunchEnvironment();
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->rank, 1);
  EXPECT_EQ(job->world_size, 2);
  EXPECT_EQ(job->local_rank, 1);
  EXPECT_EQ(job->master_port, 29500);
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(v);
}

TEST(TrainCliTest, RunStepsRecordsEveryStepAndPrintsTheMedian) {
  class Count final : public StepSink {
   public:
    void Record(const StepReport& r, double flops) override {
      ++n;
      last_flops = flops;
      EXPECT_GT(r.step_ms, 0);
    }
    int n = 0;
    double last_flops = 0;
  } sink;
  auto f = Parse({"--steps", "3", "--warmup", "2", "--json"});
  ASSERT_TRUE(f.ok());
  int calls = 0;
  const ModelShape s{"tiny", 2, 64, 4, 32, 256, 2};
  testing::internal::CaptureStdout();
  const Status st = RunSteps(*f, s, 1, 1e12, true, [&]() -> StatusOr<StepStats> {
    ++calls;
    return StepStats{.step_s = 0.01 * calls, .compute_s = 0.005};
  }, &sink);
  const std::string out = testing::internal::GetCapturedStdout();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(sink.n, 5);  // warm-up steps are training too
  EXPECT_DOUBLE_EQ(sink.last_flops, ModelFlopsPerStep(s, 1));
  EXPECT_NE(out.find("{\"warmup\":1,"), std::string::npos) << out;
  // Timed steps are calls 3, 4, 5: 30, 40, 50 ms; the median is 40.
  EXPECT_NE(out.find("{\"median\":3,\"step_ms\":40.000"), std::string::npos) << out;
  // A failing step stops the loop with its error.
  const Status bad = RunSteps(*f, s, 1, 1e12, false,
                              []() -> StatusOr<StepStats> { return Internal("boom"); }, nullptr);
  EXPECT_EQ(bad.message(), "boom");
}

}  // namespace
}  // namespace loom::train::cli
