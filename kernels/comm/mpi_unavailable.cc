// Built instead of the MPI sources when LOOM_WITH_MPI is OFF (the GPU machine has no MPI): the
// factory reports kUnavailable for kMpi / kShm instead of failing to link.
#include "kernels/comm/backends.h"

namespace loom::comm::internal {

StatusOr<std::unique_ptr<Communicator>> CreateMpiCommunicator(const CommOptions&) {
  return Unavailable("mpi backend: this build has no MPI (configure with LOOM_WITH_MPI=ON)");
}
StatusOr<std::unique_ptr<Communicator>> CreateShmCommunicator(const CommOptions&) {
  return Unavailable("shm backend: this build has no MPI (configure with LOOM_WITH_MPI=ON)");
}

}  // namespace loom::comm::internal
