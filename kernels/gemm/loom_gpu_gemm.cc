// The `loom` GPU backend: chooses between Loom's two kernels (decide here, do in the .cu files).
#include <cuda_runtime.h>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/cuda_check.h"
#include "kernels/gemm/gpu_kernels.h"

namespace loom::gemm::internal {
namespace {

// The Hopper kernel is built as sm_90a machine code, which runs on compute capability 9.0 only.
StatusOr<bool> DeviceIsHopper() {
  int device = 0, major = 0, minor = 0;
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  LOOM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  LOOM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major == 9 && minor == 0;
}

}  // namespace

Status LoomGpuGemm(const GemmDesc& desc, const void* a, const void* b, const void* c, void* d,
                   void* stream_ptr, LoomKernel kernel) {
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  GemmDesc g = desc;
  // alpha == 0 means A and B may be null (Validate allows it): a K of 0 makes both kernels skip
  // the product and leaves D = beta * C.
  if (g.alpha == 0.0f) g.k = 0;
  if (kernel == LoomKernel::kPortable) return LaunchMmaGemm(g, a, b, c, d, stream);
  LOOM_ASSIGN_OR_RETURN(const bool hopper, DeviceIsHopper());
  if (kernel == LoomKernel::kHopper && !hopper) {
    return FailedPrecondition("gemm(loom): the Hopper kernel needs a compute capability 9.0 device");
  }
  if (kernel == LoomKernel::kHopper) return LaunchHopperGemm(g, a, b, c, d, stream);
  if (hopper && HopperOperandsEligible(g, a, b)) {
    const Status s = LaunchHopperGemm(g, a, b, c, d, stream);
    // FailedPrecondition: the operands do not suit the copy engine after all (a tensor map it
    // would not encode); anything else is a real error.
    if (s.code() != StatusCode::kFailedPrecondition) return s;
  }
  return LaunchMmaGemm(g, a, b, c, d, stream);
}

}  // namespace loom::gemm::internal
