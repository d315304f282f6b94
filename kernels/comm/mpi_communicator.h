// The Open MPI backend: every operation maps to one MPI collective (blocking when the caller does
// not ask for a Request, MPI_I* otherwise). MPI has no fp16 or bf16: they travel as a 2-byte
// contiguous type and reduce through user-defined ops that call the vectorized kernels of
// reduce_kernels.h.
//
// Exposed (rather than hidden in the .cc) for the shared-memory backend, which extends it, and for
// loom-bench, which times the raw MPI call with the same datatypes as the Loom call.
#pragma once

#include <mpi.h>

#include <string>

#include "kernels/comm/communicator.h"

namespace loom::comm {

// The MPI datatype and op for each Loom dtype and redop. MPI has no average: kAvg maps to MPI_SUM
// and the caller divides by the number of ranks.
class MpiTypes {
 public:
  static StatusOr<std::unique_ptr<MpiTypes>> Create();
  ~MpiTypes();
  MPI_Datatype type(DType d) const;
  MPI_Op op(DType d, RedOp r) const;

 private:
  MpiTypes() = default;
  MPI_Datatype half_ = MPI_DATATYPE_NULL;   // 2 contiguous bytes: fp16 and bf16
  MPI_Op half_ops_[2][3] = {};              // [fp16, bf16][sum, max, min]
};

class MpiCommunicator : public Communicator {
 public:
  // Duplicates `comm` (so Loom's traffic never matches the application's) and sets
  // MPI_ERRORS_RETURN on the duplicate.
  static StatusOr<std::unique_ptr<MpiCommunicator>> Create(MPI_Comm comm);
  ~MpiCommunicator() override;

  Backend backend() const override { return Backend::kMpi; }
  MemoryKind memory_kind() const override { return MemoryKind::kHost; }
  std::string Describe() const override;

  MPI_Comm mpi_comm() const { return comm_; }
  const MpiTypes& types() const { return *types_; }

 protected:
  // What a communicator over MPI needs, made by Prepare() so that subclasses construct the same way.
  struct Parts {
    MPI_Comm comm;
    int rank;
    int size;
    std::unique_ptr<MpiTypes> types;
  };
  static StatusOr<Parts> Prepare(MPI_Comm parent);
  explicit MpiCommunicator(Parts parts);
  Status Launch(const Op& op, Request* async) override;
  Status BarrierImpl() override;

 private:
  MPI_Comm comm_;
  std::unique_ptr<MpiTypes> types_;
};

}  // namespace loom::comm
