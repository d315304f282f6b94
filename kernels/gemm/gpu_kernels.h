// Launchers of Loom's own GPU kernels (implemented in .cu files) and what the dispatcher needs to
// choose between them. Host-only declarations: no CUDA device code here.
#pragma once

#include <cuda_runtime.h>

#include "common/status.h"
#include "kernels/gemm/gemm.h"

namespace loom::gemm::internal {

// The Hopper kernel reads A and B through the TMA copy engine, which needs 16-byte aligned base
// addresses, row pitches and batch strides; true when `g` and the pointers allow that.
bool HopperOperandsEligible(const GemmDesc& g, const void* a, const void* b);

// sm_90a: TMA + wgmma, warp-specialized, persistent. Requires HopperOperandsEligible and a
// compute capability 9.0 device; returns FailedPrecondition, having launched nothing, when the
// operands turn out not to suit the copy engine.
Status LaunchHopperGemm(const GemmDesc& g, const void* a, const void* b, const void* c, void* d,
                        cudaStream_t stream);

// sm_80+: mma.sync m16n8k16, any shape, layout and alignment.
Status LaunchMmaGemm(const GemmDesc& g, const void* a, const void* b, const void* c, void* d,
                     cudaStream_t stream);

}  // namespace loom::gemm::internal
