#include <algorithm>
#include <cmath>

#include "bench/gemm/runners.h"

namespace loom::bench::gemm {

void FillRandom(std::vector<loom::gemm::Bf16>& v, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& x : v) {
    s ^= s << 13;  // xorshift64
    s ^= s >> 7;
    s ^= s << 17;
    const float u = static_cast<float>(s >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    x = loom::gemm::Bf16::FromFloat(2.0f * u - 1.0f);
  }
}

HostOperands MakeOperands(const GemmDesc& g) {
  HostOperands h;
  h.a.resize(size_t(g.op_a == Op::kN ? g.m : g.k) * g.lda);
  h.b.resize(size_t(g.op_b == Op::kN ? g.k : g.n) * g.ldb);
  FillRandom(h.a, 11);
  FillRandom(h.b, 12);
  return h;
}

Row CaseRow(const Case& c) {
  const GemmDesc& g = c.desc;
  Row row;
  row.Str("case", c.name)
      .Str("op", loom::gemm::OpsName(g.op_a, g.op_b))
      .Int("M", g.m)
      .Int("N", g.n)
      .Int("K", g.k)
      .Str("out", g.out_type == DType::kF32 ? "f32" : "bf16");
  return row;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double RelativeMaxDiff(const std::vector<float>& x, const std::vector<float>& y) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    const double d = std::fabs(double(x[i]) - y[i]);
    diff = std::isnan(d) ? INFINITY : std::max(diff, d);
    scale = std::max(scale, std::fabs(double(y[i])));
  }
  return scale > 0.0 ? diff / scale : diff;
}

}  // namespace loom::bench::gemm
