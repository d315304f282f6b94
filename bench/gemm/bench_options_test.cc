#include "bench/gemm/bench_options.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace loom::bench::gemm {
namespace {

StatusOr<Options> Parse(std::initializer_list<const char*> args) {
  std::vector<char*> argv = {const_cast<char*>("gemm")};
  for (const char* a : args) argv.push_back(const_cast<char*>(a));
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(BenchOptions, DefaultsAndFlags) {
  const auto o = Parse({"--backend", "cublas", "--shapes", "gpt", "--iters", "7", "--json"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->target, Target::kCublas);
  EXPECT_EQ(o->shapes, "gpt");
  EXPECT_EQ(o->iters, 7);
  EXPECT_TRUE(o->json);
  EXPECT_TRUE(Parse({})->check);
  EXPECT_FALSE(Parse({})->portable);
  EXPECT_TRUE(Parse({"--portable"})->portable);
}

TEST(BenchOptions, RejectsBadInputWithOneLine) {
  for (auto args : {std::vector<const char*>{"--backend", "tpu"}, {"--iters", "0"}, {"--iters", "x"},
                    {"--op", "NX"}, {"--m", "5"}, {"--bogus"}, {"--shapes"}, {"--out", "f16"}}) {
    std::vector<char*> argv = {const_cast<char*>("gemm")};
    for (const char* a : args) argv.push_back(const_cast<char*>(a));
    const auto o = ParseOptions(static_cast<int>(argv.size()), argv.data());
    ASSERT_FALSE(o.ok()) << args[0];
    EXPECT_EQ(o.status().message().find('\n'), std::string::npos);
  }
}

TEST(BenchOptions, CustomShapeIsOneCase) {
  const auto o = Parse({"--m", "17", "--n", "33", "--k", "65", "--op", "TN"});
  ASSERT_TRUE(o.ok());
  const auto cases = BuildCases(*o, /*gpu=*/false);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].desc.m, 17);
  EXPECT_EQ(cases[0].desc.op_a, Op::kT);
  EXPECT_EQ(cases[0].desc.lda, 17);  // A stored K x M
}

TEST(BenchOptions, DefaultSweepHasSquareAndBothGptHiddensInAllDirections) {
  const auto gpu = BuildCases(*Parse({}), /*gpu=*/true);
  EXPECT_EQ(gpu.size(), 5u + 2u * 4u * 3u);  // 1024..16384 square + 2 hiddens x 4 layers x 3
  EXPECT_EQ(gpu.front().desc.m, 1024);
  const auto cpu = BuildCases(*Parse({"--shapes", "square"}), /*gpu=*/false);
  EXPECT_EQ(cpu.back().desc.m, 2048);
  // Backward-weight of QKV at hidden 8192: dW (8192 x 24576) = X^T (8192 x T) dY (T x 24576).
  const auto gpt = BuildCases(*Parse({"--shapes", "gpt", "--op", "TN"}), true);
  bool found = false;
  for (const auto& c : gpt) {
    if (c.name == "gpt8192.qkv.wgrad") {
      found = true;
      EXPECT_EQ(c.desc.m, 8192);
      EXPECT_EQ(c.desc.n, 3 * 8192);
      EXPECT_EQ(c.desc.k, GptTokens(true));
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace loom::bench::gemm
