// The kShm / kAuto backend: MpiCommunicator with the all-reduce of large messages taken over by
// ShmAllReduce inside each node, and MPI across nodes (hierarchical: intra-node reduce-scatter,
// inter-node all-reduce of each shard, intra-node all-gather).
//
// Asynchrony: an async shm all-reduce is queued on the communicator's progress engine
// (progress_engine.h) and runs on its thread while the caller computes. Everything else runs on
// the calling thread after draining that queue, so every rank executes its collectives in issue
// order whichever thread runs them. The intra-node all-reduce makes no MPI call, so it is queued at
// any MPI thread level. The hierarchical one calls MPI_Allreduce across nodes between its steps,
// from the progress thread, so it is queued only when MPI runs at MPI_THREAD_MULTIPLE: the caller
// may call MPI itself meanwhile (its own code, or this communicator after a drain), and MPI
// allows calls from two threads at once only at that level. Below it, the hierarchical all-reduce
// runs on the calling thread and its Request is complete on return.
#include <mpi.h>

#include <string>

#include "kernels/comm/backends.h"
#include "kernels/comm/mpi_check.h"
#include "kernels/comm/mpi_communicator.h"
#include "kernels/comm/progress_engine.h"
#include "kernels/comm/reduce_kernels.h"
#include "kernels/comm/shm_allreduce.h"

namespace loom::comm {
namespace {

// kAuto sends all-reduces of at least this many bytes to shared memory, smaller ones to MPI:
// the crossover measured with `loom-bench coll -B mpi` vs `-B shm` (2 ranks, 2-core x86_64 VM,
// docs/COMM.md): below 1 KiB MPI's single small message wins (0.6 us vs 1.0 us at 8 B, the cost
// of shm's three flag rounds); from 2 KiB shm is faster at every size.
constexpr long long kAutoShmMinBytes = 2048;

class ShmCommunicator final : public MpiCommunicator {
 public:
  static StatusOr<std::unique_ptr<Communicator>> Create(const CommOptions& options) {
    const Backend backend = options.backend == Backend::kShm ? Backend::kShm : Backend::kAuto;
    long long min_bytes = options.shm_min_bytes;
    if (min_bytes < 0) min_bytes = backend == Backend::kShm ? 0 : kAutoShmMinBytes;
    LOOM_ASSIGN_OR_RETURN(Parts parts, Prepare(MPI_COMM_WORLD));
    std::unique_ptr<ShmCommunicator> comm(
        new ShmCommunicator(std::move(parts), backend, min_bytes));
    LOOM_RETURN_IF_ERROR(comm->Init(options.ranks_per_node));
    return std::unique_ptr<Communicator>(std::move(comm));
  }

  ~ShmCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    progress_.reset();  // runs what is still queued: the peers are waiting for it
    if (finalized) return;
    if (local_ != MPI_COMM_NULL) MPI_Comm_free(&local_);
    if (cross_ != MPI_COMM_NULL) MPI_Comm_free(&cross_);
  }

  // Collective: groups ranks into nodes and maps one segment per node.
  Status Init(int ranks_per_node) {
    if (ranks_per_node > 0) {
      LOOM_MPI_CHECK(MPI_Comm_split(mpi_comm(), rank() / ranks_per_node, rank(), &local_));
    } else {
      LOOM_MPI_CHECK(MPI_Comm_split_type(mpi_comm(), MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL,
                                         &local_));
    }
    int local_rank = 0, local_size = 0, min_size = 0, max_size = 0;
    LOOM_MPI_CHECK(MPI_Comm_rank(local_, &local_rank));
    LOOM_MPI_CHECK(MPI_Comm_size(local_, &local_size));
    LOOM_MPI_CHECK(MPI_Allreduce(&local_size, &min_size, 1, MPI_INT, MPI_MIN, mpi_comm()));
    LOOM_MPI_CHECK(MPI_Allreduce(&local_size, &max_size, 1, MPI_INT, MPI_MAX, mpi_comm()));
    nodes_ = size() / local_size;
    // Shards line up across nodes only when every node has the same number of ranks.
    if (min_size != max_size) {
      note_ = "shm off: nodes have " + std::to_string(min_size) + " to " +
              std::to_string(max_size) + " ranks";
      return Status::Ok();
    }
    if (local_size == 1) {
      note_ = "shm off: one rank per node";
      return Status::Ok();
    }
    if (nodes_ > 1) LOOM_MPI_CHECK(MPI_Comm_split(mpi_comm(), local_rank, rank(), &cross_));
    LOOM_ASSIGN_OR_RETURN(shm_, ShmAllReduce::Create(local_));
    int level = MPI_THREAD_SINGLE;
    LOOM_MPI_CHECK(MPI_Query_thread(&level));
    if (cross_ == MPI_COMM_NULL || level == MPI_THREAD_MULTIPLE) {
      progress_ = std::make_unique<internal::ProgressEngine>();
    }
    return Status::Ok();
  }

  Backend backend() const override { return backend_; }

  std::string Describe() const override {
    std::string d = std::string(BackendName(backend_)) + ": " + std::to_string(size()) +
                    " ranks, " + std::to_string(nodes_) + " node(s)";
    if (!shm_) return d + ", " + note_ + ", all collectives on MPI";
    return d + ", all-reduce >= " + std::to_string(min_bytes_) + " B through shared memory" +
           (cross_ != MPI_COMM_NULL ? " + MPI across nodes" : "") +
           (progress_ ? ", async on a progress thread" : ", async runs on the caller") + " (chunk " +
           std::to_string(shm_->chunk_bytes() / 1024) + " KiB, " +
           std::string(IsaName(BestIsa())) + "), the rest on MPI";
  }

 protected:
  Status Launch(const Op& op, Request* async) override {
    const long long bytes = static_cast<long long>(op.count * DTypeSize(op.dtype));
    const bool on_shm = op.kind == OpKind::kAllReduce && shm_ && bytes >= min_bytes_;
    if (on_shm && async && progress_) {
      *async = progress_->Enqueue([this, op] { return RunShm(op); });
      return Status::Ok();
    }
    // On this thread, after everything issued before it. A blocking shm all-reduce runs here too
    // rather than on the progress thread: same order, without a thread handoff per call.
    LOOM_RETURN_IF_ERROR(Drain());
    if (!on_shm) return MpiCommunicator::Launch(op, async);
    if (async) *async = Request();
    return RunShm(op);
  }

  Status BarrierImpl() override {
    LOOM_RETURN_IF_ERROR(Drain());
    return MpiCommunicator::BarrierImpl();
  }

 private:
  Status Drain() { return progress_ ? progress_->Drain() : Status::Ok(); }

  Status RunShm(const Op& op) {
    if (cross_ == MPI_COMM_NULL) return shm_->Run(op.send, op.recv, op.count, op.dtype, op.redop);
    auto across_nodes = [this](void* shard, size_t n, DType t, RedOp r) -> Status {
      LOOM_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, shard, static_cast<int>(n), types().type(t),
                                   types().op(t, r), cross_));
      return Status::Ok();
    };
    return shm_->Run(op.send, op.recv, op.count, op.dtype, op.redop, across_nodes, size());
  }

  ShmCommunicator(Parts parts, Backend backend, long long min_bytes)
      : MpiCommunicator(std::move(parts)), backend_(backend), min_bytes_(min_bytes) {}

  Backend backend_;
  long long min_bytes_;
  MPI_Comm local_ = MPI_COMM_NULL;
  MPI_Comm cross_ = MPI_COMM_NULL;
  int nodes_ = 1;
  std::unique_ptr<ShmAllReduce> shm_;
  // Runs async shm all-reduces (the only users of shm_ and cross_ while anything is queued);
  // null for a hierarchical communicator below MPI_THREAD_MULTIPLE. Declared after shm_, so it
  // stops before shm_ goes.
  std::unique_ptr<internal::ProgressEngine> progress_;
  std::string note_;
};

}  // namespace

namespace internal {

StatusOr<std::unique_ptr<Communicator>> CreateShmCommunicator(const CommOptions& options) {
  return ShmCommunicator::Create(options);
}

}  // namespace internal
}  // namespace loom::comm
