// The two measurement loops of loom-bench gemm. Each runs every case, fills one Row per case and
// a banner line describing the machine; gemm_bench.cc prints them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/gemm/bench_options.h"
#include "bench/gemm/report.h"
#include "common/status.h"
#include "kernels/gemm/bf16.h"

namespace loom::bench::gemm {

struct Sweep {
  std::string banner;
  std::vector<Row> rows;
};

// CPU: loom's CPU backend (bf16 in) against cblas_sgemm on the same values pre-converted to fp32.
StatusOr<Sweep> RunCpuSweep(const std::vector<Case>& cases, const Options& options);

// GPU: loom's kernels and cuBLASLt, timed with CUDA events in the same run.
StatusOr<Sweep> RunGpuSweep(const std::vector<Case>& cases, const Options& options);

// Deterministic bf16 values in [-1, 1): a cheap generator, since the GPU sweep fills gigabytes.
void FillRandom(std::vector<loom::gemm::Bf16>& v, uint64_t seed);

// A case's A and B on the host, sized by their stored shapes and filled with random values.
struct HostOperands {
  std::vector<loom::gemm::Bf16> a, b;
};
HostOperands MakeOperands(const GemmDesc& g);

// A result row that starts with the case's identity: case, op, M, N, K, out.
Row CaseRow(const Case& c);

// Median of a small sample (sorts a copy).
double Median(std::vector<double> v);

// Largest |x - y| over largest |y|: 0 for identical results, about 2^-8 for bf16 rounding.
double RelativeMaxDiff(const std::vector<float>& x, const std::vector<float>& y);

}  // namespace loom::bench::gemm
