// The pieces of loom-bench coll that need no ranks: argument parsing, the op descriptors and the
// alpha-beta fit. The harness itself runs in the measurement runs of docs/COMM.md.
#include <gtest/gtest.h>

#include <vector>

#include "bench/coll/collectives.h"
#include "bench/coll/fit.h"
#include "bench/coll/options.h"

namespace loom::bench::coll {
namespace {

StatusOr<Options> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "coll");
  return ParseOptions(static_cast<int>(args.size()), const_cast<char**>(args.data()));
}

TEST(Options, ReadsNcclTestsFlags) {
  StatusOr<Options> o = Parse({"-b", "8", "-e", "1G", "-f", "2", "-o", "max", "-d", "bf16", "-n",
                               "7", "-w", "1", "-c", "0", "--root", "1", "-B", "shm", "--json",
                               "--fit=fit.json", "--best", "reduce", "broadcast"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->min_bytes, 8u);
  EXPECT_EQ(o->max_bytes, size_t{1} << 30);
  EXPECT_EQ(o->step_factor, 2);
  EXPECT_EQ(o->redops, std::vector<comm::RedOp>{comm::RedOp::kMax});
  EXPECT_EQ(o->dtypes, std::vector<comm::DType>{comm::DType::kBFloat16});
  EXPECT_EQ(o->iters, 7);
  EXPECT_EQ(o->warmup, 1);
  EXPECT_FALSE(o->check);
  EXPECT_EQ(o->root, 1);
  EXPECT_EQ(o->backend, comm::Backend::kShm);
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->fit_path, "fit.json");
  EXPECT_TRUE(o->best);
  EXPECT_EQ(o->collectives, (std::vector<std::string>{"reduce", "broadcast"}));
  EXPECT_EQ(o->baseline, 1);  // on by default for host backends
}

TEST(Options, AllExpandsAndBadInputIsOneLine) {
  StatusOr<Options> o = Parse({"all", "-d", "all", "-o", "all"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->collectives.size(), AllCollectives().size());
  EXPECT_EQ(o->dtypes.size(), 4u);
  EXPECT_EQ(o->redops.size(), 4u);
  for (auto bad : std::vector<std::vector<const char*>>{
           {"-b"}, {"-b", "8X"}, {"-n", "0"}, {"-d", "fp8"}, {"-o", "prod"}, {"-B", "gloo"},
           {"--frobnicate"}, {"all_reduce_x"}, {"-b", "2M", "-e", "1M"}, {"-f", "0.5"}}) {
    const Status s = Parse(bad).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad[0];
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
  EXPECT_EQ(Parse({"-B", "nccl"})->baseline, 0);
}

TEST(Descriptors, BusFactorsAndCountsMatchNcclTests) {
  const int n = 4;
  auto factor = [&](const char* name) { return FindCollective(name)->bus_factor(n); };
  EXPECT_DOUBLE_EQ(factor("all_reduce"), 1.5);
  EXPECT_DOUBLE_EQ(factor("all_gather"), 0.75);
  EXPECT_DOUBLE_EQ(factor("reduce_scatter"), 0.75);
  EXPECT_DOUBLE_EQ(factor("alltoall"), 0.75);
  EXPECT_DOUBLE_EQ(factor("broadcast"), 1);
  EXPECT_DOUBLE_EQ(factor("reduce"), 1);
  const Counts g = FindCollective("all_gather")->counts(1001, n, 2);
  EXPECT_EQ(g.param, 250u);
  EXPECT_EQ(g.recv, 1000u);
  EXPECT_EQ(g.in_place_send_offset, 500u);
  const Counts rs = FindCollective("reduce_scatter")->counts(1001, n, 3);
  EXPECT_EQ(rs.send, 1000u);
  EXPECT_EQ(rs.in_place_recv_offset, 750u);
  EXPECT_EQ(FindCollective("nope"), nullptr);
}

TEST(Fit, RecoversAlphaAndBetaOfExactData) {
  std::vector<FitPoint> pts;
  for (double b = 8; b <= (1 << 28); b *= 4) pts.push_back({b, 5e-6 + b / 10e9});
  const AlphaBeta f = FitAlphaBeta(pts);
  EXPECT_NEAR(f.alpha_s, 5e-6, 1e-9);
  EXPECT_NEAR(1 / f.beta_s_per_byte, 10e9, 1e6);
  EXPECT_LT(f.rel_rms, 1e-9);
  EXPECT_EQ(f.points, static_cast<int>(pts.size()));
}

TEST(Fit, SingleSizeGivesLatencyOnly) {
  const std::vector<FitPoint> pts = {{1024, 2e-6}, {1024, 4e-6}};
  const AlphaBeta f = FitAlphaBeta(pts);
  EXPECT_EQ(f.beta_s_per_byte, 0);
  EXPECT_GT(f.alpha_s, 2e-6);
  EXPECT_LT(f.alpha_s, 4e-6);
}

}  // namespace
}  // namespace loom::bench::coll
