// Memory for a communicator's buffers, host or CUDA device as Communicator::memory_kind() says, so
// tests and loom-bench drive every backend through the same code.
#pragma once

#include <cstddef>

#include "common/status.h"
#include "kernels/comm/communicator.h"

namespace loom::comm {

class Buffer {
 public:
  // Host memory is page-aligned and touched (so page faults stay out of timings); device memory
  // comes from cudaMalloc. kUnavailable for kCuda in a build without CUDA.
  static StatusOr<Buffer> Allocate(MemoryKind kind, size_t bytes);

  Buffer() = default;
  Buffer(Buffer&& o) noexcept : kind_(o.kind_), data_(o.data_), bytes_(o.bytes_) {
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept;
  ~Buffer() { Free(); }

  void* data() const { return data_; }
  size_t size() const { return bytes_; }
  MemoryKind kind() const { return kind_; }

  // Copies between this buffer (at byte `offset`) and host memory.
  Status Upload(const void* host, size_t bytes, size_t offset = 0);
  Status Download(void* host, size_t bytes, size_t offset = 0) const;

 private:
  Buffer(MemoryKind kind, void* data, size_t bytes) : kind_(kind), data_(data), bytes_(bytes) {}
  void Free();

  MemoryKind kind_ = MemoryKind::kHost;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

namespace internal {
// Defined by buffer_cuda.cc, or as kUnavailable by cuda_unavailable.cc.
StatusOr<void*> CudaAlloc(size_t bytes);
void CudaFree(void* p);
Status CudaCopy(void* dst, const void* src, size_t bytes);  // cudaMemcpyDefault
}  // namespace internal

}  // namespace loom::comm
