#include "kernels/gemm/calibrate.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "kernels/gemm/bf16.h"

namespace loom::gemm {

StatusOr<double> CalibratePeakFlops(Backend backend, int64_t n, int repeats) {
  if (n <= 0 || repeats <= 0) return InvalidArgument("calibration: n and repeats must be > 0");
  std::vector<Bf16> a(n * n), b(n * n);
  std::vector<float> d(n * n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (Bf16& x : a) x = Bf16::FromFloat(u(rng));
  for (Bf16& x : b) x = Bf16::FromFloat(u(rng));
  const GemmDesc desc = PackedDesc(Op::kN, Op::kN, n, n, n, 1, DType::kF32);
  double best = 0;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    LOOM_RETURN_IF_ERROR(Gemm(desc, a.data(), b.data(), nullptr, d.data(), backend));
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;
    best = std::max(best, GemmFlops(desc) / took.count());
  }
  return best;
}

}  // namespace loom::gemm
