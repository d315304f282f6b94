// Run-time dispatch among the kernel tables compiled in (see reduce_kernels_impl.h).
#include "kernels/comm/reduce_kernels.h"

#include <cassert>

#include "kernels/comm/reduce_kernels_impl.h"

namespace loom::comm {
namespace {

const kernels::KernelTable* TableFor(Isa isa) {
#if LOOM_COMM_HAVE_X86_KERNELS
  switch (isa) {
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") ? kernels::Avx512Kernels() : nullptr;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") &&
                     __builtin_cpu_supports("fma")
                 ? kernels::Avx2Kernels()
                 : nullptr;
    case Isa::kScalar: break;
  }
#endif
  return isa == Isa::kScalar ? &kernels::ScalarKernels() : nullptr;
}

}  // namespace

#if !LOOM_COMM_HAVE_X86_KERNELS
namespace kernels {
const KernelTable* Avx2Kernels() { return nullptr; }
const KernelTable* Avx512Kernels() { return nullptr; }
}  // namespace kernels
#endif

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

bool IsaAvailable(Isa isa) { return TableFor(isa) != nullptr; }

Isa BestIsa() {
  static const Isa best = IsaAvailable(Isa::kAvx512) ? Isa::kAvx512
                          : IsaAvailable(Isa::kAvx2) ? Isa::kAvx2
                                                     : Isa::kScalar;
  return best;
}

void ReduceN(void* dst, const void* const* srcs, int nsrcs, size_t count, DType dtype, RedOp op,
             Isa isa) {
  assert(nsrcs >= 1 && IsSupported(dtype, op) && IsaAvailable(isa));
  TableFor(isa)->reduce[static_cast<int>(dtype)][static_cast<int>(op)](dst, srcs, nsrcs, count);
}

void DivideBy(void* dst, const void* src, size_t count, DType dtype, int divisor, Isa isa) {
  assert(IsFloatingPoint(dtype) && divisor > 0 && IsaAvailable(isa));
  TableFor(isa)->divide[static_cast<int>(dtype)](dst, src, count, divisor);
}

}  // namespace loom::comm
