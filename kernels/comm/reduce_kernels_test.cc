// Every ISA's kernels against values computed here in double precision, and against the scalar
// kernels bit for bit (the vector and scalar paths must round the same way).
#include "kernels/comm/reduce_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/comm/types.h"

namespace loom::comm {
namespace {

constexpr Isa kIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};

// Element i of source k, as a double: exactly representable in bf16 (at most 8 significant bits)
// but with sums that are not, so rounding is exercised. Never NaN.
double Value(int k, size_t i) {
  return (static_cast<double>((k * 37 + static_cast<int>(i) * 11) % 97) - 48.0) / 8.0;
}

// int32 takes the same values times 8 (integers).
void Store(DType d, void* base, size_t i, double v) {
  SetElement(base, i, d, d == DType::kInt32 ? v * 8 : v);
}
double Load(DType d, const void* base, size_t i) { return GetElement(base, i, d); }

// Unit roundoff of the storage type: the kernels accumulate in fp32 (exact for these inputs:
// at most 8 sources of 8-bit-significand values below 2^3) and round once at the store, so the
// result is within u * |exact| of the exact reduction (half an ulp), plus fp32's rounding of the
// average's division (2^-24 relative).
double UnitRoundoff(DType d) {
  switch (d) {
    case DType::kFloat32: return std::ldexp(1.0, -24);
    case DType::kFloat16: return std::ldexp(1.0, -11);
    case DType::kBFloat16: return std::ldexp(1.0, -8);
    case DType::kInt32: return 0;
  }
  return 0;
}

struct Case {
  int nsrcs;
  size_t count;
};

class ReduceKernelsTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaAvailable(GetParam())) {
      GTEST_SKIP() << "ISA " << IsaName(GetParam()) << " not supported by this CPU or build";
    }
  }
};

TEST_P(ReduceKernelsTest, MatchesExactReductionWithinOneRounding) {
  // Counts around every vector width (8, 16) and tail, plus non-power-of-two and zero.
  for (const Case c : {Case{1, 0}, Case{1, 5}, Case{2, 1}, Case{2, 15}, Case{2, 16}, Case{3, 17},
                       Case{4, 31}, Case{8, 1000}, Case{5, 4097}}) {
    for (DType d : kAllDTypes) {
      for (RedOp op : kAllRedOps) {
        if (!IsSupported(d, op)) continue;
        SCOPED_TRACE(testing::Message() << DTypeName(d) << " " << RedOpName(op) << " n="
                                        << c.nsrcs << " count=" << c.count);
        const size_t es = DTypeSize(d);
        std::vector<std::vector<char>> src(c.nsrcs, std::vector<char>(c.count * es + 1));
        std::vector<const void*> ptrs;
        for (int k = 0; k < c.nsrcs; ++k) {
          for (size_t i = 0; i < c.count; ++i) Store(d, src[k].data(), i, Value(k, i));
          ptrs.push_back(src[k].data());
        }
        std::vector<char> out(c.count * es + 1), ref(c.count * es + 1);
        ReduceN(out.data(), ptrs.data(), c.nsrcs, c.count, d, op, GetParam());
        ReduceN(ref.data(), ptrs.data(), c.nsrcs, c.count, d, op, Isa::kScalar);
        EXPECT_EQ(0, std::memcmp(out.data(), ref.data(), c.count * es)) << "differs from scalar";
        int wrong = 0;
        for (size_t i = 0; i < c.count; ++i) {
          double exact = Load(d, ptrs[0], i);
          for (int k = 1; k < c.nsrcs; ++k) {
            const double x = Load(d, ptrs[k], i);
            exact = op == RedOp::kMax ? std::max(exact, x)
                    : op == RedOp::kMin ? std::min(exact, x)
                                        : exact + x;
          }
          if (op == RedOp::kAvg) exact /= c.nsrcs;
          const double tol = 2 * UnitRoundoff(d) * std::fabs(exact);
          if (std::fabs(Load(d, out.data(), i) - exact) > tol && ++wrong <= 3) {
            ADD_FAILURE() << "i=" << i << " got " << Load(d, out.data(), i) << " want " << exact;
          }
        }
        EXPECT_EQ(wrong, 0);
      }
    }
  }
}

TEST_P(ReduceKernelsTest, OutputMayAliasAnInput) {
  std::vector<float> a(37), b(37);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i), b[i] = 2.0f * float(i);
  const void* srcs[] = {a.data(), b.data()};
  ReduceN(b.data(), srcs, 2, b.size(), DType::kFloat32, RedOp::kSum, GetParam());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(b[i], 3.0f * float(i));
}

TEST_P(ReduceKernelsTest, Bf16RoundsToNearestEvenAndKeepsNan) {
  // 1 + b, summed in fp32, then narrowed: 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7 and
  // goes to the even significand (1); 1 + 3*2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6 and
  // goes to 1 + 2^-6; 1 + 2^-8 + 2^-12 is above halfway and goes up. NaN + x stays NaN.
  const float b[] = {0x1p-8f, 3 * 0x1p-8f, 0x1p-8f + 0x1p-12f, 1.0f};
  const float want[] = {1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, NAN};
  std::vector<uint16_t> x(40), y(40), out(40);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = FloatToBf16(i % 4 == 3 ? NAN : 1.0f);
    y[i] = FloatToBf16(b[i % 4]);
  }
  const void* srcs[] = {x.data(), y.data()};
  ReduceN(out.data(), srcs, 2, out.size(), DType::kBFloat16, RedOp::kSum, GetParam());
  for (size_t i = 0; i < out.size(); ++i) {
    const float w = want[i % 4];
    if (std::isnan(w)) {
      EXPECT_TRUE(std::isnan(Bf16ToFloat(out[i]))) << "i=" << i;
    } else {
      EXPECT_EQ(Bf16ToFloat(out[i]), w) << "i=" << i;
      EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f + b[i % 4])), w) << "reference conversion";
    }
  }
}

TEST_P(ReduceKernelsTest, HalfSumRoundsOnceAtTheStore) {
  // 2048 + 1 + 1 in fp16: rounding after each add gives 2048 (1 is half an ulp at 2048, a tie
  // that goes to even, twice); accumulating in fp32 and rounding once gives 2050 exactly.
  std::vector<uint16_t> big(24, FloatToFp16(2048.0f)), one(24, FloatToFp16(1.0f)), out(24);
  const void* srcs[] = {big.data(), one.data(), one.data()};
  ReduceN(out.data(), srcs, 3, out.size(), DType::kFloat16, RedOp::kSum, GetParam());
  for (uint16_t h : out) EXPECT_EQ(Fp16ToFloat(h), 2050.0f);
}

TEST_P(ReduceKernelsTest, DivideByRoundsTheQuotientOnce) {
  std::vector<uint16_t> in(19), out(19);
  for (size_t i = 0; i < in.size(); ++i) in[i] = FloatToBf16(float(i) - 9.0f);
  DivideBy(out.data(), in.data(), in.size(), DType::kBFloat16, 3, GetParam());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i], FloatToBf16((float(i) - 9.0f) / 3.0f)) << "i=" << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ReduceKernelsTest, ::testing::ValuesIn(kIsas),
                         [](const auto& info) { return std::string(IsaName(info.param)); });

TEST(HalfConversions, Fp16RoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f = Fp16ToFloat(bits);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToFp16(f), bits) << std::hex << h;
  }
  EXPECT_EQ(FloatToFp16(65520.0f), 0x7C00);      // rounds to +inf
  EXPECT_EQ(FloatToFp16(0x1p-25f), 0x0000);      // half the smallest subnormal: tie to even (0)
  EXPECT_EQ(FloatToFp16(0x1p-25f * 3), 0x0002);  // 1.5 subnormal ulps: tie to even (2)
}

TEST(HalfConversions, Bf16RoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f = Bf16ToFloat(bits);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBf16(f), bits) << std::hex << h;
  }
}

}  // namespace
}  // namespace loom::comm
