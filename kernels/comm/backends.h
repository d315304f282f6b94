// Backend constructors behind CreateCommunicator(). Each is defined by its backend's .cc when that
// backend is compiled in, and by backends_stub.cc (returning kUnavailable) when it is not, so the
// factory needs no #ifdefs.
#pragma once

#include <memory>

#include "kernels/comm/communicator.h"

namespace loom::comm::internal {

StatusOr<std::unique_ptr<Communicator>> CreateMpiCommunicator(const CommOptions& options);
StatusOr<std::unique_ptr<Communicator>> CreateShmCommunicator(const CommOptions& options);
StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(const CommOptions& options);
bool NcclDeviceAvailable();  // NCCL compiled in and at least one CUDA device visible

}  // namespace loom::comm::internal
