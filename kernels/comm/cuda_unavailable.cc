// Built instead of the CUDA/NCCL sources when LOOM_WITH_CUDA is OFF: the factory and Buffer then
// report kUnavailable for kNccl / kCuda instead of failing to link.
#include "kernels/comm/backends.h"
#include "kernels/comm/buffer.h"

namespace loom::comm::internal {

StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(const CommOptions&) {
  return Unavailable("nccl backend: this build has no CUDA (configure with LOOM_WITH_CUDA=ON)");
}
bool NcclDeviceAvailable() { return false; }

StatusOr<void*> CudaAlloc(size_t) {
  return Unavailable("device memory: this build has no CUDA (configure with LOOM_WITH_CUDA=ON)");
}
void CudaFree(void*) {}
Status CudaCopy(void*, const void*, size_t) { return Unavailable("this build has no CUDA"); }

}  // namespace loom::comm::internal
