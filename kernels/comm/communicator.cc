// Argument validation, grouping and the factory: everything common to the backends, so that each
// backend only translates a valid Op into its library's calls.
#include "kernels/comm/communicator.h"

#include <cstdint>
#include <string>

#include "kernels/comm/backends.h"

namespace loom::comm {

// ---- Request ----------------------------------------------------------------------------------

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    if (op_) (void)op_->Wait();  // never drop an operation that still owns buffers
    op_ = std::move(other.op_);
  }
  return *this;
}

Request::~Request() {
  if (op_) (void)op_->Wait();
}

Status Request::Wait() {
  if (!op_) return Status::Ok();
  Status s = op_->Wait();
  op_.reset();
  return s;
}

StatusOr<bool> Request::Test() {
  if (!op_) return true;
  StatusOr<bool> done = op_->Test();
  if (!done.ok() || *done) op_.reset();
  return done;
}

// ---- Names ------------------------------------------------------------------------------------

std::string_view BackendName(Backend b) {
  switch (b) {
    case Backend::kMpi: return "mpi";
    case Backend::kShm: return "shm";
    case Backend::kNccl: return "nccl";
    case Backend::kAuto: return "auto";
  }
  return "?";
}

bool ParseBackend(std::string_view name, Backend* out) {
  for (Backend b : {Backend::kMpi, Backend::kShm, Backend::kNccl, Backend::kAuto}) {
    if (name == BackendName(b)) {
      *out = b;
      return true;
    }
  }
  return false;
}

// ---- Validation -------------------------------------------------------------------------------

namespace {

using OpKind = Communicator::OpKind;

struct ByteRange {
  const char* begin;
  size_t size;
  const char* end() const { return begin + size; }
  bool Overlaps(const ByteRange& o) const {
    return size > 0 && o.size > 0 && begin < o.end() && o.begin < end();
  }
};

// The elements of send and recv a call touches on this rank; size 0 where a buffer is unused.
void Footprint(const Communicator::Op& op, int rank, int nranks, ByteRange* send,
               ByteRange* recv) {
  const size_t bytes = op.count * DTypeSize(op.dtype);
  const size_t all = bytes * static_cast<size_t>(nranks);
  size_t send_bytes = bytes, recv_bytes = bytes;
  switch (op.kind) {
    case OpKind::kAllReduce: break;
    case OpKind::kReduce: recv_bytes = rank == op.root ? bytes : 0; break;
    case OpKind::kBroadcast: send_bytes = rank == op.root ? bytes : 0; break;
    case OpKind::kAllGather: recv_bytes = all; break;
    case OpKind::kReduceScatter: send_bytes = all; break;
    case OpKind::kAllToAll: send_bytes = recv_bytes = all; break;
    case OpKind::kSend: recv_bytes = 0; break;
    case OpKind::kRecv: send_bytes = 0; break;
  }
  *send = {static_cast<const char*>(op.send), send_bytes};
  *recv = {static_cast<const char*>(op.recv), recv_bytes};
}

bool IsReduction(OpKind k) {
  return k == OpKind::kAllReduce || k == OpKind::kReduce || k == OpKind::kReduceScatter;
}

}  // namespace

bool Communicator::IsInPlace(const Op& op, int rank) {
  const auto* send = static_cast<const char*>(op.send);
  const auto* recv = static_cast<const char*>(op.recv);
  const size_t block = op.count * DTypeSize(op.dtype) * static_cast<size_t>(rank);
  switch (op.kind) {
    case OpKind::kAllGather: return send == recv + block;
    case OpKind::kReduceScatter: return recv == send + block;
    case OpKind::kSend:
    case OpKind::kRecv: return false;
    default: return send == recv;
  }
}

Status Communicator::Validate(const Op& op) const {
  const bool rooted = op.kind == OpKind::kReduce || op.kind == OpKind::kBroadcast ||
                      op.kind == OpKind::kSend || op.kind == OpKind::kRecv;
  if (rooted && (op.root < 0 || op.root >= size_)) {
    return InvalidArgument("root/peer " + std::to_string(op.root) + " is not a rank of a " +
                           std::to_string(size_) + "-rank communicator");
  }
  if (IsReduction(op.kind) && !IsSupported(op.dtype, op.redop)) {
    return InvalidArgument(std::string(RedOpName(op.redop)) + " is not defined for " +
                           std::string(DTypeName(op.dtype)));
  }
  if (op.count > (SIZE_MAX / 8) / static_cast<size_t>(size_)) {
    return InvalidArgument("count " + std::to_string(op.count) + " overflows the buffer size");
  }
  ByteRange send, recv;
  Footprint(op, rank_, size_, &send, &recv);
  if ((send.size > 0 && op.send == nullptr) || (recv.size > 0 && op.recv == nullptr)) {
    return InvalidArgument("null buffer for a non-empty operation");
  }
  if (send.Overlaps(recv) && !IsInPlace(op, rank_)) {
    return InvalidArgument(
        "send and recv overlap but are not in place (in place: send == recv, or the "
        "all-gather / reduce-scatter layouts of NCCL)");
  }
  return Status::Ok();
}

// ---- Calls ------------------------------------------------------------------------------------

Status Communicator::Submit(const Op& op, Request* async) {
  LOOM_RETURN_IF_ERROR(Validate(op));
  if (group_depth_ > 0 && async == nullptr) {
    Request r;
    LOOM_RETURN_IF_ERROR(Launch(op, &r));
    if (r.pending()) group_pending_.push_back(std::move(r));
    return Status::Ok();
  }
  return Launch(op, async);
}

Status Communicator::AllReduce(const void* send, void* recv, size_t count, DType dtype, RedOp op,
                               Request* async) {
  return Submit({OpKind::kAllReduce, send, recv, count, dtype, op, 0}, async);
}

Status Communicator::Reduce(const void* send, void* recv, size_t count, DType dtype, RedOp op,
                            int root, Request* async) {
  return Submit({OpKind::kReduce, send, recv, count, dtype, op, root}, async);
}

Status Communicator::Broadcast(const void* send, void* recv, size_t count, DType dtype, int root,
                               Request* async) {
  return Submit({OpKind::kBroadcast, send, recv, count, dtype, RedOp::kSum, root}, async);
}

Status Communicator::AllGather(const void* send, void* recv, size_t count, DType dtype,
                               Request* async) {
  return Submit({OpKind::kAllGather, send, recv, count, dtype, RedOp::kSum, 0}, async);
}

Status Communicator::ReduceScatter(const void* send, void* recv, size_t count, DType dtype,
                                   RedOp op, Request* async) {
  return Submit({OpKind::kReduceScatter, send, recv, count, dtype, op, 0}, async);
}

Status Communicator::AllToAll(const void* send, void* recv, size_t count, DType dtype,
                              Request* async) {
  return Submit({OpKind::kAllToAll, send, recv, count, dtype, RedOp::kSum, 0}, async);
}

Status Communicator::Send(const void* buf, size_t count, DType dtype, int peer, Request* async) {
  return Submit({OpKind::kSend, buf, nullptr, count, dtype, RedOp::kSum, peer}, async);
}

Status Communicator::Recv(void* buf, size_t count, DType dtype, int peer, Request* async) {
  return Submit({OpKind::kRecv, nullptr, buf, count, dtype, RedOp::kSum, peer}, async);
}

Status Communicator::Barrier() {
  if (group_depth_ > 0) return FailedPrecondition("Barrier() inside GroupStart()/GroupEnd()");
  return BarrierImpl();
}

Status Communicator::GroupStart() {
  if (group_depth_++ == 0) return GroupStartImpl();
  return Status::Ok();
}

Status Communicator::GroupEnd() {
  if (group_depth_ == 0) return FailedPrecondition("GroupEnd() without GroupStart()");
  if (--group_depth_ > 0) return Status::Ok();
  Status first = GroupEndImpl();
  for (Request& r : group_pending_) {
    Status s = r.Wait();
    if (first.ok()) first = s;
  }
  group_pending_.clear();
  return first;
}

// ---- Factory ----------------------------------------------------------------------------------

StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const CommOptions& options) {
  switch (options.backend) {
    case Backend::kMpi: return internal::CreateMpiCommunicator(options);
    case Backend::kShm: return internal::CreateShmCommunicator(options);
    case Backend::kNccl: return internal::CreateNcclCommunicator(options);
    case Backend::kAuto:
      if (internal::NcclDeviceAvailable()) return internal::CreateNcclCommunicator(options);
      return internal::CreateShmCommunicator(options);
  }
  return InvalidArgument("unknown backend");
}

}  // namespace loom::comm
