// CPU sweep. The anchor is what a caller would get by calling OpenBLAS directly on fp32 data it
// already has: cblas_sgemm on the operands pre-converted once, outside the timing. Loom's CPU
// backend takes bf16 and converts at every call, so "overhead" is the price of the bf16 boundary.
// Loom and the anchor alternate within each iteration, so clock drift affects both alike. Times
// are medians; overhead_best_pct compares the fastest iterations instead.
#include "kernels/gemm/blas.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "bench/gemm/runners.h"
#include "common/progress.h"

namespace loom::bench::gemm {
namespace {

using loom::gemm::Bf16;
using Clock = std::chrono::steady_clock;

template <typename F>
double TimeMs(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

CBLAS_TRANSPOSE ToCblas(Op op) { return op == Op::kN ? CblasNoTrans : CblasTrans; }

void Sgemm(const GemmDesc& g, const float* a, const float* b, float* d) {
  cblas_sgemm(CblasRowMajor, ToCblas(g.op_a), ToCblas(g.op_b), int(g.m), int(g.n), int(g.k),
              g.alpha, a, int(g.lda), b, int(g.ldb), g.beta, d, int(g.ldd));
}

std::vector<float> Widen(const std::vector<Bf16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i].ToFloat();
  return out;
}

// The machine's measured peak: the best of three 2048^3 sgemm runs on all cores.
double MeasurePeakGflops() {
  constexpr int64_t kN = 2048;
  const GemmDesc g = loom::gemm::PackedDesc(Op::kN, Op::kN, kN, kN, kN);
  std::vector<Bf16> a16(kN * kN), b16(kN * kN);
  FillRandom(a16, 1);
  FillRandom(b16, 2);
  const std::vector<float> a = Widen(a16), b = Widen(b16);
  std::vector<float> d(kN * kN);
  double best = 1e30;
  for (int i = 0; i < 4; ++i) {  // the first run warms up OpenBLAS's threads
    const double ms = TimeMs([&] { Sgemm(g, a.data(), b.data(), d.data()); });
    if (i > 0) best = std::min(best, ms);
  }
  return loom::gemm::GemmFlops(g) / (best * 1e-3) / 1e9;
}

}  // namespace

StatusOr<Sweep> RunCpuSweep(const std::vector<Case>& cases, const Options& o) {
  const int iters = o.iters > 0 ? o.iters : 3;
  const int warmup = o.warmup >= 0 ? o.warmup : 1;
  const double peak = MeasurePeakGflops();
  Sweep sweep;
  char banner[256];
  std::snprintf(banner, sizeof banner,
                "# loom-bench gemm: CPU, %u hardware threads, OpenBLAS %d threads; peak %.1f "
                "GFLOP/s (measured: OpenBLAS sgemm 2048^3, best of 3); anchor: cblas_sgemm on "
                "pre-converted fp32",
                std::thread::hardware_concurrency(), openblas_get_num_threads(), peak);
  sweep.banner = banner;

  Progress progress("gemm", static_cast<int>(cases.size()), !o.json);
  for (const Case& c : cases) {
    progress.Next(c.name);
    const GemmDesc& g = c.desc;
    const HostOperands host = MakeOperands(g);
    const std::vector<Bf16>& a16 = host.a;
    const std::vector<Bf16>& b16 = host.b;
    const std::vector<float> a32 = Widen(a16), b32 = Widen(b16);
    const bool f32_out = g.out_type == DType::kF32;
    std::vector<float> d_anchor(g.m * g.ldd), d_loom_f32(f32_out ? g.m * g.ldd : 0);
    std::vector<Bf16> d_loom_bf16(f32_out ? 0 : g.m * g.ldd);
    void* d_loom = f32_out ? static_cast<void*>(d_loom_f32.data()) : d_loom_bf16.data();

    std::vector<double> loom_ms, anchor_ms;
    for (int i = 0; i < warmup + iters; ++i) {
      Status status;
      const double lm = TimeMs([&] {
        status = loom::gemm::Gemm(g, a16.data(), b16.data(), nullptr, d_loom, loom::gemm::Backend::kCpu);
      });
      LOOM_RETURN_IF_ERROR(status);
      const double am = TimeMs([&] { Sgemm(g, a32.data(), b32.data(), d_anchor.data()); });
      if (i >= warmup) {
        loom_ms.push_back(lm);
        anchor_ms.push_back(am);
      }
    }
    const double flops = loom::gemm::GemmFlops(g);
    const double lm = Median(loom_ms), am = Median(anchor_ms);
    const double loom_gflops = flops / (lm * 1e-3) / 1e9, anchor_gflops = flops / (am * 1e-3) / 1e9;
    double diff = NAN;
    if (o.check) {
      diff = RelativeMaxDiff(f32_out ? d_loom_f32 : Widen(d_loom_bf16), d_anchor);
    }
    Row row = CaseRow(c);
    row.Num("loom_ms", lm, 3)
        .Num("loom_GFLOPs", loom_gflops, 1)
        .Num("sgemm_ms", am, 3)
        .Num("sgemm_GFLOPs", anchor_gflops, 1)
        .Num("overhead_pct", (lm / am - 1.0) * 100.0, 2)
        // From the fastest iterations: the least disturbed by other work on a shared machine.
        .Num("overhead_best_pct", (Min(loom_ms) / Min(anchor_ms) - 1.0) * 100.0, 2)
        .Num("pct_of_peak", loom_gflops / peak * 100.0, 1)
        .Num("peak_GFLOPs", peak, 1)
        .Num("maxdiff", diff, 6);
    sweep.rows.push_back(std::move(row));
  }
  return sweep;
}

}  // namespace loom::bench::gemm
