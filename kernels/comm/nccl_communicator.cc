// The NCCL backend: device buffers, every operation a NCCL call on one CUDA stream. Bootstraps the
// ncclUniqueId over MPI when this build has MPI and the program initialized it, else over TCP from
// the job's environment (rendezvous.h).
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/comm/backends.h"
#include "kernels/comm/cuda_check.h"
#include "kernels/comm/rendezvous.h"
#if LOOM_COMM_HAVE_MPI
#include <mpi.h>

#include "kernels/comm/mpi_check.h"
#endif

namespace loom::comm {
namespace {

ncclDataType_t NcclType(DType d) {
  switch (d) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat16: return ncclFloat16;
    case DType::kBFloat16: return ncclBfloat16;
    case DType::kInt32: return ncclInt32;
  }
  return ncclFloat32;
}

ncclRedOp_t NcclOp(RedOp r) {
  switch (r) {
    case RedOp::kSum: return ncclSum;
    case RedOp::kMax: return ncclMax;
    case RedOp::kMin: return ncclMin;
    case RedOp::kAvg: return ncclAvg;
  }
  return ncclSum;
}

// Completion of stream work: an event recorded after it.
class NcclPendingOp final : public internal::PendingOp {
 public:
  explicit NcclPendingOp(cudaEvent_t e) : event_(e) {}
  ~NcclPendingOp() override { (void)cudaEventDestroy(event_); }
  Status Wait() override {
    LOOM_CUDA_CHECK(cudaEventSynchronize(event_));
    return Status::Ok();
  }
  StatusOr<bool> Test() override {
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaErrorNotReady) return false;
    LOOM_CUDA_CHECK(e);
    return true;
  }

 private:
  cudaEvent_t event_;
};

struct Bootstrap {
  int rank = 0, size = 1, local_rank = 0;
  ncclUniqueId id{};
};

// Rank 0 makes the id; everyone learns it, their rank and their local rank.
StatusOr<Bootstrap> BootstrapId() {
  Bootstrap b;
#if LOOM_COMM_HAVE_MPI
  int mpi_up = 0;
  MPI_Initialized(&mpi_up);
  if (mpi_up) {
    LOOM_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &b.rank));
    LOOM_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &b.size));
    MPI_Comm local;
    LOOM_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, b.rank, MPI_INFO_NULL,
                                       &local));
    LOOM_MPI_CHECK(MPI_Comm_rank(local, &b.local_rank));
    LOOM_MPI_CHECK(MPI_Comm_free(&local));
    if (b.rank == 0) LOOM_NCCL_CHECK(ncclGetUniqueId(&b.id));
    LOOM_MPI_CHECK(MPI_Bcast(&b.id, sizeof b.id, MPI_BYTE, 0, MPI_COMM_WORLD));
    return b;
  }
#endif
  LOOM_ASSIGN_OR_RETURN(RendezvousEnv env, RendezvousEnvFromEnvironment());
  b.rank = env.rank;
  b.size = env.world_size;
  b.local_rank = env.local_rank;
  if (b.rank == 0) LOOM_NCCL_CHECK(ncclGetUniqueId(&b.id));
  std::string blob(reinterpret_cast<const char*>(&b.id), sizeof b.id);
  LOOM_RETURN_IF_ERROR(TcpBroadcast(env, &blob));
  if (blob.size() != sizeof b.id) return Unavailable("rendezvous: malformed ncclUniqueId");
  std::memcpy(&b.id, blob.data(), sizeof b.id);
  return b;
}

class NcclCommunicator final : public Communicator {
 public:
  static StatusOr<std::unique_ptr<Communicator>> Create(const CommOptions& options) {
    int devices = 0;
    LOOM_CUDA_CHECK(cudaGetDeviceCount(&devices));
    if (devices == 0) return Unavailable("nccl backend: no CUDA device");
    LOOM_ASSIGN_OR_RETURN(Bootstrap b, BootstrapId());
    const int device = options.cuda_device >= 0 ? options.cuda_device : b.local_rank % devices;
    LOOM_CUDA_CHECK(cudaSetDevice(device));
    std::unique_ptr<NcclCommunicator> c(new NcclCommunicator(b.rank, b.size, device));
    if (options.cuda_stream != nullptr) {
      c->stream_ = static_cast<cudaStream_t>(options.cuda_stream);
    } else {
      LOOM_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream_, cudaStreamNonBlocking));
      c->owns_stream_ = true;
    }
    LOOM_CUDA_CHECK(cudaMalloc(&c->scratch_, sizeof(int)));
    LOOM_NCCL_CHECK(ncclCommInitRank(&c->comm_, b.size, b.id, b.rank));
    return std::unique_ptr<Communicator>(std::move(c));
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr) (void)ncclCommDestroy(comm_);
    if (scratch_ != nullptr) (void)cudaFree(scratch_);
    if (owns_stream_) (void)cudaStreamDestroy(stream_);
  }

  Backend backend() const override { return Backend::kNccl; }
  MemoryKind memory_kind() const override { return MemoryKind::kCuda; }
  std::string Describe() const override {
    int version = 0;
    (void)ncclGetVersion(&version);
    return "nccl " + std::to_string(version) + ": " + std::to_string(size()) + " ranks, device " +
           std::to_string(device_);
  }

 protected:
  Status Launch(const Op& op, Request* async) override {
    LOOM_RETURN_IF_ERROR(Enqueue(op));
    return Complete(async);
  }

  Status BarrierImpl() override {
    LOOM_NCCL_CHECK(ncclAllReduce(scratch_, scratch_, 1, ncclInt32, ncclSum, comm_, stream_));
    LOOM_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return Status::Ok();
  }

  Status GroupStartImpl() override {
    in_group_ = true;
    LOOM_NCCL_CHECK(ncclGroupStart());
    return Status::Ok();
  }

  // Events of calls made inside the group are recorded only now, after NCCL launched its work.
  Status GroupEndImpl() override {
    in_group_ = false;
    LOOM_NCCL_CHECK(ncclGroupEnd());
    for (cudaEvent_t e : deferred_events_) LOOM_CUDA_CHECK(cudaEventRecord(e, stream_));
    deferred_events_.clear();
    return Status::Ok();
  }

 private:
  NcclCommunicator(int rank, int size, int device) : Communicator(rank, size), device_(device) {}

  Status Enqueue(const Op& op) {
    const ncclDataType_t t = NcclType(op.dtype);
    const size_t block = op.count * DTypeSize(op.dtype);
    switch (op.kind) {
      case OpKind::kAllReduce:
        LOOM_NCCL_CHECK(ncclAllReduce(op.send, op.recv, op.count, t, NcclOp(op.redop), comm_,
                                      stream_));
        break;
      case OpKind::kReduce:
        LOOM_NCCL_CHECK(ncclReduce(op.send, op.recv, op.count, t, NcclOp(op.redop), op.root,
                                   comm_, stream_));
        break;
      case OpKind::kBroadcast:
        LOOM_NCCL_CHECK(ncclBroadcast(op.send, op.recv, op.count, t, op.root, comm_, stream_));
        break;
      case OpKind::kAllGather:
        LOOM_NCCL_CHECK(ncclAllGather(op.send, op.recv, op.count, t, comm_, stream_));
        break;
      case OpKind::kReduceScatter:
        LOOM_NCCL_CHECK(ncclReduceScatter(op.send, op.recv, op.count, t, NcclOp(op.redop), comm_,
                                          stream_));
        break;
      case OpKind::kAllToAll: return EnqueueAllToAll(op, t, block);
      case OpKind::kSend:
        LOOM_NCCL_CHECK(ncclSend(op.send, op.count, t, op.root, comm_, stream_));
        break;
      case OpKind::kRecv:
        LOOM_NCCL_CHECK(ncclRecv(op.recv, op.count, t, op.root, comm_, stream_));
        break;
    }
    return Status::Ok();
  }

  // NCCL has no all-to-all: one send and one recv per peer in a group. In place stages the input
  // through stream-ordered scratch memory.
  Status EnqueueAllToAll(const Op& op, ncclDataType_t t, size_t block) {
    const size_t total = block * static_cast<size_t>(size());
    const char* from = static_cast<const char*>(op.send);
    void* staging = nullptr;
    if (IsInPlace(op, rank()) && total > 0) {
      LOOM_CUDA_CHECK(cudaMallocAsync(&staging, total, stream_));
      LOOM_CUDA_CHECK(cudaMemcpyAsync(staging, op.send, total, cudaMemcpyDeviceToDevice, stream_));
      from = static_cast<const char*>(staging);
    }
    LOOM_NCCL_CHECK(ncclGroupStart());
    for (int p = 0; p < size(); ++p) {
      LOOM_NCCL_CHECK(ncclSend(from + p * block, op.count, t, p, comm_, stream_));
      LOOM_NCCL_CHECK(ncclRecv(static_cast<char*>(op.recv) + p * block, op.count, t, p, comm_,
                               stream_));
    }
    LOOM_NCCL_CHECK(ncclGroupEnd());
    if (staging != nullptr) LOOM_CUDA_CHECK(cudaFreeAsync(staging, stream_));
    return Status::Ok();
  }

  Status Complete(Request* async) {
    if (async == nullptr) {
      if (!in_group_) LOOM_CUDA_CHECK(cudaStreamSynchronize(stream_));
      return Status::Ok();
    }
    cudaEvent_t e;
    LOOM_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    if (in_group_) deferred_events_.push_back(e);
    else LOOM_CUDA_CHECK(cudaEventRecord(e, stream_));
    *async = Request(std::make_unique<NcclPendingOp>(e));
    return Status::Ok();
  }

  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool owns_stream_ = false;
  void* scratch_ = nullptr;  // Barrier's one int
  bool in_group_ = false;
  std::vector<cudaEvent_t> deferred_events_;
};

}  // namespace

namespace internal {

StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(const CommOptions& options) {
  return NcclCommunicator::Create(options);
}

bool NcclDeviceAvailable() {
  int devices = 0;
  return cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
}

}  // namespace internal
}  // namespace loom::comm
