#include "kernels/comm/buffer.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace loom::comm {

StatusOr<Buffer> Buffer::Allocate(MemoryKind kind, size_t bytes) {
  if (kind == MemoryKind::kCuda) {
    LOOM_ASSIGN_OR_RETURN(void* p, internal::CudaAlloc(bytes));
    return Buffer(kind, p, bytes);
  }
  constexpr size_t kPage = 4096;
  const size_t rounded = (bytes + kPage - 1) / kPage * kPage;
  void* p = std::aligned_alloc(kPage, rounded == 0 ? kPage : rounded);
  if (p == nullptr) return ResourceExhausted("cannot allocate " + std::to_string(bytes) + " B");
  std::memset(p, 0, rounded);
  return Buffer(kind, p, bytes);
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    Free();
    kind_ = o.kind_;
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void Buffer::Free() {
  if (data_ == nullptr) return;
  if (kind_ == MemoryKind::kCuda) internal::CudaFree(data_);
  else std::free(data_);
  data_ = nullptr;
}

Status Buffer::Upload(const void* host, size_t bytes, size_t offset) {
  if (offset + bytes > bytes_) return InvalidArgument("upload past the end of the buffer");
  if (bytes == 0) return Status::Ok();
  char* dst = static_cast<char*>(data_) + offset;
  if (kind_ == MemoryKind::kCuda) return internal::CudaCopy(dst, host, bytes);
  std::memcpy(dst, host, bytes);
  return Status::Ok();
}

Status Buffer::Download(void* host, size_t bytes, size_t offset) const {
  if (offset + bytes > bytes_) return InvalidArgument("download past the end of the buffer");
  if (bytes == 0) return Status::Ok();
  const char* src = static_cast<const char*>(data_) + offset;
  if (kind_ == MemoryKind::kCuda) return internal::CudaCopy(host, src, bytes);
  std::memcpy(host, src, bytes);
  return Status::Ok();
}

}  // namespace loom::comm
