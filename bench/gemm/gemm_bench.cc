// loom-bench gemm: entry point. Parses options, picks the GPU or CPU sweep, prints the result.
#include <cstdio>

#include "bench/gemm/bench_options.h"
#include "bench/gemm/runners.h"
#include "kernels/gemm/gemm.h"

namespace loom::bench {

int RunGemm(int argc, char** argv) {
  using namespace loom::bench::gemm;
  const StatusOr<Options> parsed = ParseOptions(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "loom-bench gemm: %s\n", parsed.status().message().c_str());
    return 2;
  }
  const Options& o = *parsed;
  if (o.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool has_gpu = loom::gemm::CudaDeviceAvailable();
  const bool gpu = o.target == Target::kLoom || o.target == Target::kCublas ||
                   (o.target == Target::kAuto && has_gpu);
  if (gpu && !has_gpu) {
    std::fprintf(stderr, "loom-bench gemm: --backend %s needs a CUDA device, and none is %s\n",
                 o.target == Target::kLoom ? "loom" : "cublas",
                 loom::gemm::BuiltWithCuda() ? "present" : "supported by this build");
    return 1;
  }
  const std::vector<Case> cases = BuildCases(o, gpu);
  StatusOr<Sweep> sweep = gpu ? RunGpuSweep(cases, o) : RunCpuSweep(cases, o);
  if (!sweep.ok()) {
    std::fprintf(stderr, "loom-bench gemm: %s\n", sweep.status().ToString().c_str());
    return 1;
  }
  if (o.json) {
    PrintJson(sweep->rows, stdout);
  } else {
    std::printf("%s\n", sweep->banner.c_str());
    if (!gpu) {
      std::printf("# GPT shapes on CPU use %d tokens (GPU: %d)\n", GptTokens(false), GptTokens(true));
    }
    PrintTable(sweep->rows, stdout);
  }
  return 0;
}

}  // namespace loom::bench
