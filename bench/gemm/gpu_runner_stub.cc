// Built without CUDA: the GPU sweep is unavailable (RunGemm never picks it without a device).
#include "bench/gemm/runners.h"

namespace loom::bench::gemm {

StatusOr<Sweep> RunGpuSweep(const std::vector<Case>&, const Options&) {
  return Unavailable("loom-bench gemm was built without CUDA");
}

}  // namespace loom::bench::gemm
