// Device memory for Buffer (built with CUDA only).
#include <cuda_runtime.h>

#include "kernels/comm/buffer.h"
#include "kernels/comm/cuda_check.h"

namespace loom::comm::internal {

StatusOr<void*> CudaAlloc(size_t bytes) {
  void* p = nullptr;
  LOOM_CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  LOOM_CUDA_CHECK(cudaMemset(p, 0, bytes));
  return p;
}

void CudaFree(void* p) { (void)cudaFree(p); }

Status CudaCopy(void* dst, const void* src, size_t bytes) {
  LOOM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
  return Status::Ok();
}

}  // namespace loom::comm::internal
