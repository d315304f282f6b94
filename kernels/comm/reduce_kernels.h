// Element-wise reduction kernels used by the MPI user-defined ops (bf16/fp16, which MPI lacks) and
// by the shared-memory all-reduce. Memory-bound by design: one pass reads every source once and
// writes the destination once.
//
// bf16 and fp16 widen to fp32, reduce in fp32 and round to nearest-even once at the store, so an
// n-way reduction done in one call rounds once instead of n-1 times.
//
// The implementation is picked at run time (__builtin_cpu_supports) among the ISAs compiled in:
// AVX-512F, AVX2+F16C+FMA, and a portable scalar loop. Tests run every available ISA against the
// scalar one.
#pragma once

#include <cstddef>
#include <string_view>

#include "kernels/comm/types.h"

namespace loom::comm {

enum class Isa { kScalar, kAvx2, kAvx512 };

std::string_view IsaName(Isa isa);
bool IsaAvailable(Isa isa);  // compiled in and supported by this CPU
Isa BestIsa();               // the fastest available one; the default of the calls below

// dst[i] = op(srcs[0][i], ..., srcs[nsrcs-1][i]) for i < count; kAvg divides the sum by nsrcs.
// dst may be one of srcs (exactly, not a shifted overlap). nsrcs >= 1. Integer sums wrap.
// Precondition: IsSupported(dtype, op) (no int32 average).
void ReduceN(void* dst, const void* const* srcs, int nsrcs, size_t count, DType dtype, RedOp op,
             Isa isa = BestIsa());

// dst[i] = src[i] / divisor, rounded once: finishes an average whose sum was computed elsewhere
// (for example by MPI with the sum operator). dst may equal src. Floating-point types only.
void DivideBy(void* dst, const void* src, size_t count, DType dtype, int divisor,
              Isa isa = BestIsa());

}  // namespace loom::comm
