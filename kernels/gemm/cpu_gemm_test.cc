// The CPU backend against a double-precision reference (bound derived in gemm_test_util.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "kernels/gemm/calibrate.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_test_util.h"

namespace loom::gemm {
namespace {

using testing::CheckAgainstReference;
using testing::MakeProblem;
using testing::Problem;
using testing::Shape;
using testing::ShapeString;

// Output buffers start as NaN so an element the backend forgot to write fails the comparison.
std::vector<uint8_t> PoisonedOutput(const Problem& p) {
  const size_t bytes = p.OutElems() * (p.desc.out_type == DType::kF32 ? 4 : 2);
  std::vector<uint8_t> d(bytes, 0xff);  // 0xffff.. is a NaN in both bf16 and fp32
  return d;
}

std::string RunCpu(const Problem& p, void* d) {
  Status s = Gemm(p.desc, p.a.data(), p.b.data(), p.c(), d, Backend::kCpu);
  if (!s.ok()) return s.ToString();
  return CheckAgainstReference(p, d);
}

// Shapes from the issue: degenerate, odd, K not a multiple of any tile, tall-skinny.
constexpr Shape kShapes[] = {{1, 1, 1}, {17, 33, 65}, {64, 48, 100}, {4096, 8, 64}, {8, 4096, 64},
                             {31, 7, 1000}};
constexpr std::pair<Op, Op> kOps[] = {
    {Op::kN, Op::kN}, {Op::kN, Op::kT}, {Op::kT, Op::kN}, {Op::kT, Op::kT}};

class CpuGemmShapes : public ::testing::TestWithParam<std::tuple<Shape, std::pair<Op, Op>, DType>> {
};

TEST_P(CpuGemmShapes, MatchesReference) {
  const auto [shape, ops, out_type] = GetParam();
  GemmDesc desc = PackedDesc(ops.first, ops.second, shape.m, shape.n, shape.k, 1, out_type);
  desc.alpha = 1.0f;
  desc.beta = 0.0f;
  Problem p = MakeProblem(desc, 7);
  std::vector<uint8_t> d = PoisonedOutput(p);
  EXPECT_EQ(RunCpu(p, d.data()), "");
}

std::string ShapeName(const ::testing::TestParamInfo<CpuGemmShapes::ParamType>& info) {
  const auto& [s, ops, t] = info.param;
  return ShapeString(s) + "_" +
         OpsName(ops.first, ops.second) + (t == DType::kF32 ? "_f32" : "_bf16");
}

INSTANTIATE_TEST_SUITE_P(AllOps, CpuGemmShapes,
                         ::testing::Combine(::testing::ValuesIn(kShapes), ::testing::ValuesIn(kOps),
                                            ::testing::Values(DType::kBF16, DType::kF32)),
                         ShapeName);

struct Scaling {
  float alpha, beta;
};

class CpuGemmScaling : public ::testing::TestWithParam<std::tuple<Scaling, DType>> {};

TEST_P(CpuGemmScaling, AppliesAlphaAndBeta) {
  const auto [sc, out_type] = GetParam();
  GemmDesc desc = PackedDesc(Op::kN, Op::kT, 37, 29, 70, 1, out_type);
  desc.alpha = sc.alpha;
  desc.beta = sc.beta;
  Problem p = MakeProblem(desc, 11);
  std::vector<uint8_t> d = PoisonedOutput(p);
  EXPECT_EQ(RunCpu(p, d.data()), "");
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuGemmScaling,
                         ::testing::Combine(::testing::Values(Scaling{1, 0}, Scaling{0.5f, 0},
                                                              Scaling{1, 1}, Scaling{-2, 0.75f},
                                                              Scaling{0, 1.5f}),
                                            ::testing::Values(DType::kBF16, DType::kF32)));

TEST(CpuGemm, KZeroGivesBetaTimesC) {
  GemmDesc desc = PackedDesc(Op::kN, Op::kN, 5, 6, 0, 1, DType::kF32);
  desc.beta = 2.0f;
  Problem p = MakeProblem(desc, 3);
  std::vector<uint8_t> d = PoisonedOutput(p);
  EXPECT_EQ(RunCpu(p, d.data()), "");
}

TEST(CpuGemm, InPlaceAccumulateWhenCIsD) {
  GemmDesc desc = PackedDesc(Op::kT, Op::kN, 19, 23, 45, 1, DType::kF32);
  desc.beta = 1.0f;
  Problem p = MakeProblem(desc, 5);
  std::vector<float> d = p.c_f32;  // D starts as C and is updated in place
  ASSERT_TRUE(Gemm(p.desc, p.a.data(), p.b.data(), d.data(), d.data(), Backend::kCpu).ok());
  EXPECT_EQ(CheckAgainstReference(p, d.data()), "");
}

TEST(CpuGemm, PaddedLeadingDimensionsLeavePaddingUntouched) {
  GemmDesc desc = PackedDesc(Op::kN, Op::kN, 13, 9, 21, 1, DType::kBF16);
  desc.lda = 30;
  desc.ldb = 16;
  desc.ldc = 12;
  desc.ldd = 11;
  desc.beta = 0.5f;
  Problem p = MakeProblem(desc, 9);
  std::vector<Bf16> d(p.OutElems(), Bf16::FromFloat(42.0f));
  ASSERT_TRUE(Gemm(p.desc, p.a.data(), p.b.data(), p.c(), d.data(), Backend::kCpu).ok());
  EXPECT_EQ(CheckAgainstReference(p, d.data()), "");
  for (int64_t i = 0; i < p.desc.m; ++i) {
    for (int64_t j = p.desc.n; j < p.desc.ldd && i * p.desc.ldd + j < int64_t(d.size()); ++j) {
      EXPECT_EQ(d[i * p.desc.ldd + j].ToFloat(), 42.0f) << "padding written at " << i << "," << j;
    }
  }
}

TEST(CpuGemm, BatchedStridedAndBroadcast) {
  for (const bool broadcast_b : {false, true}) {
    GemmDesc desc = PackedDesc(Op::kN, Op::kT, 12, 10, 33, 4, DType::kF32);
    desc.stride_a += 5;  // gaps between batch entries
    if (broadcast_b) desc.stride_b = 0;
    desc.beta = 1.0f;
    Problem p = MakeProblem(desc, 21);
    std::vector<uint8_t> d = PoisonedOutput(p);
    EXPECT_EQ(RunCpu(p, d.data()), "") << (broadcast_b ? "broadcast B" : "strided B");
  }
}

// The checker must be able to fail: results computed with the wrong transpose, without the K
// tail, or without beta * C are all reported.
TEST(CpuGemm, CheckerRejectsWrongResults) {
  GemmDesc desc = PackedDesc(Op::kN, Op::kN, 70, 70, 70, 1, DType::kBF16);
  desc.beta = 1.0f;
  Problem p = MakeProblem(desc, 13);
  std::vector<Bf16> d(p.OutElems());
  ASSERT_TRUE(Gemm(p.desc, p.a.data(), p.b.data(), p.c(), d.data(), Backend::kCpu).ok());
  ASSERT_EQ(CheckAgainstReference(p, d.data()), "");

  Problem wrong_op = p;
  wrong_op.desc.op_b = Op::kT;  // same square data read transposed
  ASSERT_TRUE(Gemm(wrong_op.desc, p.a.data(), p.b.data(), p.c(), d.data(), Backend::kCpu).ok());
  EXPECT_NE(CheckAgainstReference(p, d.data()), "");

  Problem short_k = p;
  short_k.desc.k = 64;  // drops the K tail, keeping lda/ldb
  ASSERT_TRUE(Gemm(short_k.desc, p.a.data(), p.b.data(), p.c(), d.data(), Backend::kCpu).ok());
  EXPECT_NE(CheckAgainstReference(p, d.data()), "");

  Problem no_beta = p;
  no_beta.desc.beta = 0.0f;
  ASSERT_TRUE(Gemm(no_beta.desc, p.a.data(), p.b.data(), p.c(), d.data(), Backend::kCpu).ok());
  EXPECT_NE(CheckAgainstReference(p, d.data()), "");

  ASSERT_TRUE(Gemm(p.desc, p.a.data(), p.b.data(), p.c(), d.data(), Backend::kCpu).ok());
  d[5] = Bf16::FromFloat(d[5].ToFloat() * 1.02f + 0.02f);  // one element off by ~2%
  EXPECT_NE(CheckAgainstReference(p, d.data()), "");
}

TEST(GemmValidate, RejectsMalformedDescriptors) {
  float buf[64] = {};
  auto code = [&](GemmDesc g, const void* a, const void* b, const void* c, void* d) {
    return Gemm(g, a, b, c, d, Backend::kCpu).code();
  };
  GemmDesc ok = PackedDesc(Op::kN, Op::kN, 2, 2, 2);
  EXPECT_EQ(code(ok, buf, buf, nullptr, buf), StatusCode::kOk);

  GemmDesc neg = ok;
  neg.m = -1;
  EXPECT_EQ(code(neg, buf, buf, nullptr, buf), StatusCode::kInvalidArgument);
  GemmDesc bad_lda = ok;
  bad_lda.lda = 1;
  EXPECT_EQ(code(bad_lda, buf, buf, nullptr, buf), StatusCode::kInvalidArgument);
  GemmDesc bad_ldd = ok;
  bad_ldd.ldd = 1;
  EXPECT_EQ(code(bad_ldd, buf, buf, nullptr, buf), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(ok, nullptr, buf, nullptr, buf), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(ok, buf, buf, nullptr, nullptr), StatusCode::kInvalidArgument);
  GemmDesc needs_c = ok;
  needs_c.beta = 1.0f;
  EXPECT_EQ(code(needs_c, buf, buf, nullptr, buf), StatusCode::kInvalidArgument);
  GemmDesc overlapping = PackedDesc(Op::kN, Op::kN, 2, 2, 2, 3);
  overlapping.stride_d = 1;
  EXPECT_EQ(code(overlapping, buf, buf, nullptr, buf), StatusCode::kInvalidArgument);
  GemmDesc batch0 = ok;
  batch0.batch = 0;
  EXPECT_EQ(code(batch0, buf, buf, nullptr, buf), StatusCode::kInvalidArgument);
  // Empty shapes are valid and touch nothing, not even null pointers.
  EXPECT_EQ(code(PackedDesc(Op::kN, Op::kN, 0, 5, 5), nullptr, nullptr, nullptr, nullptr),
            StatusCode::kOk);

  Status s = Gemm(bad_lda, buf, buf, nullptr, buf, Backend::kCpu);
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one-line message: " << s.message();
  EXPECT_NE(s.message().find("lda"), std::string::npos) << s.message();
}

TEST(GemmNames, ParseAndPrint) {
  EXPECT_EQ(*ParseBackend("cpu"), Backend::kCpu);
  EXPECT_EQ(*ParseBackend("loom"), Backend::kLoom);
  EXPECT_EQ(*ParseBackend("cublas"), Backend::kCublas);
  EXPECT_FALSE(ParseBackend("cuda").ok());
  for (Backend b : {Backend::kCpu, Backend::kLoom, Backend::kCublas}) {
    EXPECT_EQ(*ParseBackend(BackendName(b)), b);
  }
  EXPECT_EQ(ParseOps("TN")->first, Op::kT);
  EXPECT_EQ(ParseOps("TN")->second, Op::kN);
  EXPECT_FALSE(ParseOps("NX").ok());
  EXPECT_STREQ(OpsName(Op::kN, Op::kT), "NT");
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(Bf16::FromFloat(1.0f).bits, 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even significand (1.0).
  EXPECT_EQ(Bf16::FromFloat(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even rounds up.
  EXPECT_EQ(Bf16::FromFloat(1.0f + 3 * std::ldexp(1.0f, -8)).bits, 0x3f82);
  EXPECT_EQ(Bf16::FromFloat(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -12)).bits, 0x3f81);
  EXPECT_TRUE(std::isnan(Bf16::FromFloat(NAN).ToFloat()));
  EXPECT_TRUE(std::isinf(Bf16::FromFloat(INFINITY).ToFloat()));
  EXPECT_EQ(Bf16::FromFloat(-2.5f).ToFloat(), -2.5f);
}

TEST(GemmCalibrationTest, MeasuresAPositiveRateAndRefusesEmptyShapes) {
  auto peak = CalibratePeakFlops(Backend::kCpu, 128, 2);
  ASSERT_TRUE(peak.ok()) << peak.status().ToString();
  EXPECT_GT(*peak, 0.0);
  EXPECT_FALSE(CalibratePeakFlops(Backend::kCpu, 0, 1).ok());
}

}  // namespace
}  // namespace loom::gemm
