#include "kernels/comm/mpi_communicator.h"

#include <climits>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#include "kernels/comm/backends.h"
#include "kernels/comm/mpi_check.h"
#include "kernels/comm/reduce_kernels.h"

namespace loom::comm {
namespace {

// ---- fp16 / bf16 reductions as MPI user-defined ops --------------------------------------------

// MPI's contract: inout[i] = in[i] op inout[i]. One ReduceN call over both buffers does exactly
// that, vectorized and rounding once per element.
template <DType kType, RedOp kOp>
void HalfUserOp(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  const void* srcs[2] = {in, inout};
  ReduceN(inout, srcs, 2, static_cast<size_t>(*len), kType, kOp);
}

constexpr MPI_User_function* kHalfUserOps[2][3] = {
    {HalfUserOp<DType::kFloat16, RedOp::kSum>, HalfUserOp<DType::kFloat16, RedOp::kMax>,
     HalfUserOp<DType::kFloat16, RedOp::kMin>},
    {HalfUserOp<DType::kBFloat16, RedOp::kSum>, HalfUserOp<DType::kBFloat16, RedOp::kMax>,
     HalfUserOp<DType::kBFloat16, RedOp::kMin>},
};

int HalfIndex(DType d) { return d == DType::kFloat16 ? 0 : 1; }
int OpIndex(RedOp r) { return r == RedOp::kMax ? 1 : r == RedOp::kMin ? 2 : 0; }  // avg -> sum

bool MpiFinalized() {
  int done = 0;
  MPI_Finalized(&done);
  return done != 0;
}

// ---- Requests ---------------------------------------------------------------------------------

// Work to do once the MPI request completed: divide for an average, move an in-place
// reduce-scatter's block into place, free a staging copy.
using Finish = std::function<void()>;

class MpiPendingOp final : public internal::PendingOp {
 public:
  MpiPendingOp(MPI_Request req, Finish finish) : req_(req), finish_(std::move(finish)) {}
  Status Wait() override {
    LOOM_MPI_CHECK(MPI_Wait(&req_, MPI_STATUS_IGNORE));
    Complete();
    return Status::Ok();
  }
  StatusOr<bool> Test() override {
    int flag = 0;
    LOOM_MPI_CHECK(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE));
    if (flag) Complete();
    return flag != 0;
  }

 private:
  void Complete() {
    if (finish_) finish_();
    finish_ = nullptr;
  }
  MPI_Request req_;
  Finish finish_;
};

// MPI_Recv takes a status where MPI_Irecv takes a request; this gives it Irecv's shape.
int RecvIgnoringStatus(void* buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm) {
  return MPI_Recv(buf, count, type, src, tag, comm, MPI_STATUS_IGNORE);
}

// Runs one MPI operation given as its blocking and non-blocking functions, which take the same
// arguments but for the trailing request: blocking when async is null, else started and wrapped.
template <class NonBlocking, class... A>
Status Run(const char* name, int (*blocking)(A...), NonBlocking nonblocking,
           Request* async, Finish finish, std::type_identity_t<A>... args) {
  if (async == nullptr) {
    const int rc = blocking(args...);
    if (rc != MPI_SUCCESS) return internal::MpiError(rc, name, __FILE__, __LINE__);
    if (finish) finish();
    return Status::Ok();
  }
  static_assert(std::is_invocable_r_v<int, NonBlocking, A..., MPI_Request*>,
                "the non-blocking function must take the blocking one's arguments and a request");
  MPI_Request req;
  const int rc = nonblocking(args..., &req);
  if (rc != MPI_SUCCESS) return internal::MpiError(rc, name, __FILE__, __LINE__);
  *async = Request(std::make_unique<MpiPendingOp>(req, std::move(finish)));
  return Status::Ok();
}

constexpr int kSendRecvTag = 0x100C;  // Loom's point-to-point tag on its private communicator

}  // namespace

// ---- MpiTypes ---------------------------------------------------------------------------------

StatusOr<std::unique_ptr<MpiTypes>> MpiTypes::Create() {
  std::unique_ptr<MpiTypes> t(new MpiTypes());
  LOOM_MPI_CHECK(MPI_Type_contiguous(2, MPI_BYTE, &t->half_));
  LOOM_MPI_CHECK(MPI_Type_commit(&t->half_));
  for (int h = 0; h < 2; ++h) {
    for (int o = 0; o < 3; ++o) {
      LOOM_MPI_CHECK(MPI_Op_create(kHalfUserOps[h][o], /*commute=*/1, &t->half_ops_[h][o]));
    }
  }
  return t;
}

MpiTypes::~MpiTypes() {
  if (MpiFinalized()) return;  // MPI already released everything
  for (auto& row : half_ops_) {
    for (MPI_Op& op : row) {
      if (op != MPI_Op{} && op != MPI_OP_NULL) MPI_Op_free(&op);
    }
  }
  if (half_ != MPI_DATATYPE_NULL) MPI_Type_free(&half_);
}

MPI_Datatype MpiTypes::type(DType d) const {
  switch (d) {
    case DType::kFloat32: return MPI_FLOAT;
    case DType::kInt32: return MPI_INT32_T;
    case DType::kFloat16:
    case DType::kBFloat16: return half_;
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op MpiTypes::op(DType d, RedOp r) const {
  if (d == DType::kFloat16 || d == DType::kBFloat16) return half_ops_[HalfIndex(d)][OpIndex(r)];
  switch (r) {
    case RedOp::kMax: return MPI_MAX;
    case RedOp::kMin: return MPI_MIN;
    case RedOp::kSum:
    case RedOp::kAvg: return MPI_SUM;
  }
  return MPI_OP_NULL;
}

// ---- MpiCommunicator --------------------------------------------------------------------------

StatusOr<MpiCommunicator::Parts> MpiCommunicator::Prepare(MPI_Comm parent) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return FailedPrecondition("MPI is not initialized: call MPI_Init first");
  Parts p;
  LOOM_ASSIGN_OR_RETURN(p.types, MpiTypes::Create());
  LOOM_MPI_CHECK(MPI_Comm_dup(parent, &p.comm));
  LOOM_MPI_CHECK(MPI_Comm_set_errhandler(p.comm, MPI_ERRORS_RETURN));
  LOOM_MPI_CHECK(MPI_Comm_rank(p.comm, &p.rank));
  LOOM_MPI_CHECK(MPI_Comm_size(p.comm, &p.size));
  return p;
}

StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MPI_Comm parent) {
  LOOM_ASSIGN_OR_RETURN(Parts parts, Prepare(parent));
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(std::move(parts)));
}

MpiCommunicator::MpiCommunicator(Parts parts)
    : Communicator(parts.rank, parts.size), comm_(parts.comm), types_(std::move(parts.types)) {}

MpiCommunicator::~MpiCommunicator() {
  if (!MpiFinalized()) MPI_Comm_free(&comm_);
}

std::string MpiCommunicator::Describe() const {
  return "mpi: " + std::to_string(size()) + " ranks, fp16/bf16 ops " +
         std::string(IsaName(BestIsa()));
}

Status MpiCommunicator::BarrierImpl() {
  LOOM_MPI_CHECK(MPI_Barrier(comm_));
  return Status::Ok();
}

Status MpiCommunicator::Launch(const Op& op, Request* async) {
  if (op.count > static_cast<size_t>(INT_MAX)) {
    return InvalidArgument("mpi backend: count " + std::to_string(op.count) +
                           " exceeds MPI's int count");
  }
  const int n = static_cast<int>(op.count);
  const size_t bytes = op.count * DTypeSize(op.dtype);
  const MPI_Datatype type = types_->type(op.dtype);
  const MPI_Op mpi_op = types_->op(op.dtype, op.redop);
  const bool in_place = IsInPlace(op, rank());
  const void* send = in_place ? MPI_IN_PLACE : op.send;
  void* recv = op.recv;

  // MPI has no average: sum, then divide the result where there is one.
  Finish finish;
  auto average_on = [&](void* buf) {
    if (op.redop == RedOp::kAvg) {
      finish = [=, this] { DivideBy(buf, buf, op.count, op.dtype, size()); };
    }
  };

  switch (op.kind) {
    case OpKind::kAllReduce:
      average_on(recv);
      return Run("MPI_Allreduce", MPI_Allreduce, MPI_Iallreduce, async, finish, send, recv, n,
                 type, mpi_op, comm_);
    case OpKind::kReduce:
      if (rank() == op.root) average_on(recv);
      if (rank() != op.root) send = op.send;  // MPI_IN_PLACE is for the root only
      return Run("MPI_Reduce", MPI_Reduce, MPI_Ireduce, async, finish, send, recv, n, type, mpi_op,
                 op.root, comm_);
    case OpKind::kBroadcast:
      if (rank() == op.root && !in_place && bytes > 0) std::memcpy(recv, op.send, bytes);
      return Run("MPI_Bcast", MPI_Bcast, MPI_Ibcast, async, finish, recv, n, type, op.root, comm_);
    case OpKind::kAllGather:
      return Run("MPI_Allgather", MPI_Allgather, MPI_Iallgather, async, finish, send, n, type,
                 recv, n, type, comm_);
    case OpKind::kReduceScatter: {
      // NCCL's in-place layout keeps the result at recv = send + rank*count; MPI_IN_PLACE puts it
      // at the start of the buffer. Reduce in MPI's layout, then move the block.
      void* out = in_place ? const_cast<void*>(op.send) : recv;
      finish = [=, this] {
        if (op.redop == RedOp::kAvg) DivideBy(out, out, op.count, op.dtype, size());
        if (out != recv && bytes > 0) std::memmove(recv, out, bytes);
      };
      return Run("MPI_Reduce_scatter_block", MPI_Reduce_scatter_block,
                 MPI_Ireduce_scatter_block, async, finish, in_place ? MPI_IN_PLACE : op.send, out,
                 n, type, mpi_op, comm_);
    }
    case OpKind::kAllToAll: {
      // Stage an in-place all-to-all through a copy: libnbc's MPI_Ialltoall in Open MPI 4.1 does
      // not take MPI_IN_PLACE.
      const void* from = op.send;
      if (in_place && bytes > 0) {
        auto staging = std::make_shared<std::vector<char>>(
            static_cast<const char*>(op.send),
            static_cast<const char*>(op.send) + bytes * static_cast<size_t>(size()));
        from = staging->data();
        finish = [staging] {};  // keeps the copy alive until the transfer completes
      }
      return Run("MPI_Alltoall", MPI_Alltoall, MPI_Ialltoall, async, finish, from, n, type, recv,
                 n, type, comm_);
    }
    case OpKind::kSend:
      return Run("MPI_Send", MPI_Send, MPI_Isend, async, finish, op.send, n, type, op.root,
                 kSendRecvTag, comm_);
    case OpKind::kRecv:
      return Run("MPI_Recv", RecvIgnoringStatus, MPI_Irecv, async, finish, recv, n, type, op.root,
                 kSendRecvTag, comm_);
  }
  return InvalidArgument("unknown operation");
}

namespace internal {

StatusOr<std::unique_ptr<Communicator>> CreateMpiCommunicator(const CommOptions& /*options*/) {
  LOOM_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> comm,
                        MpiCommunicator::Create(MPI_COMM_WORLD));
  return std::unique_ptr<Communicator>(std::move(comm));
}

}  // namespace internal
}  // namespace loom::comm
