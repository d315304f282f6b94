// loom::comm::Communicator — the one interface a training step uses for collectives, whether the
// ranks are GPUs under NCCL or CPU-emulated GPUs under Open MPI.
//
// Semantics follow NCCL, so code written against one backend runs on the others:
//  * Buffers hold `count` elements of `dtype`. They live where MemoryKind() says: host memory for
//    kMpi/kShm, CUDA device memory for kNccl (kernels/comm/buffer.h allocates either).
//  * In place is expressed by pointers, as in NCCL: AllReduce/Reduce/Broadcast/AllToAll with
//    send == recv; AllGather with send == recv + rank*count; ReduceScatter with
//    recv == send + rank*count. Other overlaps are an error.
//  * Every rank calls every collective in the same order with the same count, dtype, op and root.
//  * Completion: with `async == nullptr` the call returns when this rank's part is done and its
//    buffers may be reused. With a Request* the call only starts the operation; the buffers belong
//    to the communicator until async->Wait() returns (compute may run meanwhile: that is the
//    overlap). On MPI a blocking call uses the blocking MPI function (Open MPI's tuned
//    algorithms), an async one the MPI_I* function (libnbc). kShm queues an async intra-node
//    all-reduce on the communicator's progress thread (which never calls MPI) and runs every
//    other call on the calling thread once all earlier calls have completed, so collectives
//    execute in issue order on every rank; its hierarchical (multi-node) all-reduce, which calls
//    MPI between its steps, is queued too only at MPI_THREAD_MULTIPLE, and otherwise runs on the
//    calling thread (its Request is then complete on return).
//  * GroupStart()/GroupEnd() bracket calls that must be issued together (a send and a recv to the
//    same peer, the pairs of an all-to-all). Inside a group nothing is guaranteed to progress
//    before GroupEnd(); calls with async == nullptr complete in GroupEnd().
//  * Errors are returned, never thrown: kInvalidArgument for a bad call (which the caller must not
//    retry), kUnavailable / kInternal for failures of the transport (kShm: kUnavailable naming the
//    rank when a rank of the node died or failed inside a shared-memory all-reduce, instead of
//    waiting for it forever). After a transport error the communicator should be destroyed.
//  * Thread safety: one thread at a time per communicator (like an MPI communicator without
//    MPI_THREAD_MULTIPLE, or an NCCL communicator on one stream); a backend's own progress
//    thread does not count.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kernels/comm/types.h"

namespace loom::comm {

namespace internal {
// What a backend hands back for an operation in flight.
class PendingOp {
 public:
  virtual ~PendingOp() = default;
  virtual Status Wait() = 0;
  virtual StatusOr<bool> Test() = 0;  // true once complete (then Wait() returns at once)
};
}  // namespace internal

// A started operation. Move-only; a default-constructed Request is complete. Destroying a pending
// Request waits for it (the buffers must not be freed under a transfer).
class Request {
 public:
  Request() = default;
  explicit Request(std::unique_ptr<internal::PendingOp> op) : op_(std::move(op)) {}
  Request(Request&&) noexcept = default;
  Request& operator=(Request&& other) noexcept;
  ~Request();

  Status Wait();           // blocks until complete; then the Request is complete
  StatusOr<bool> Test();   // non-blocking poll; true when complete
  bool pending() const { return op_ != nullptr; }

 private:
  std::unique_ptr<internal::PendingOp> op_;
};

enum class MemoryKind { kHost, kCuda };

enum class Backend {
  kMpi,   // Open MPI for everything (CPU buffers)
  kShm,   // intra-node shared-memory all-reduce, MPI across nodes and for the other collectives
  kNccl,  // NCCL on CUDA device buffers
  kAuto,  // kNccl when built with CUDA and a device is present; else per size, shm or MPI
};
std::string_view BackendName(Backend b);
bool ParseBackend(std::string_view name, Backend* out);

struct CommOptions {
  Backend backend = Backend::kAuto;
  // kShm / kAuto: messages of at least this many bytes take the shared-memory all-reduce; smaller
  // ones go to MPI. -1 keeps the measured default (docs/COMM.md). 0 sends every size to shm.
  long long shm_min_bytes = -1;
  // kShm: treat every `ranks_per_node` consecutive ranks as one node instead of asking MPI which
  // ranks share memory. Lets one machine exercise the hierarchical multi-node path; 0 = detect.
  int ranks_per_node = 0;
  // kNccl: the CUDA device (-1: local rank modulo the device count) and the cudaStream_t to run
  // on (nullptr: the communicator creates its own). An opaque pointer keeps CUDA out of this header.
  int cuda_device = -1;
  void* cuda_stream = nullptr;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  virtual Backend backend() const = 0;
  virtual MemoryKind memory_kind() const = 0;
  // One line for logs and bench headers: backend, ranks per node, kernel ISA, devices.
  virtual std::string Describe() const = 0;

  Status AllReduce(const void* send, void* recv, size_t count, DType dtype, RedOp op,
                   Request* async = nullptr);
  // recv is used on `root` only.
  Status Reduce(const void* send, void* recv, size_t count, DType dtype, RedOp op, int root,
                Request* async = nullptr);
  // send is read on `root` only; every rank receives into recv.
  Status Broadcast(const void* send, void* recv, size_t count, DType dtype, int root,
                   Request* async = nullptr);
  // send: count elements; recv: size()*count, rank r's block at r*count.
  Status AllGather(const void* send, void* recv, size_t count, DType dtype,
                   Request* async = nullptr);
  // send: size()*count elements; recv: count, the reduction of every rank's block rank().
  Status ReduceScatter(const void* send, void* recv, size_t count, DType dtype, RedOp op,
                       Request* async = nullptr);
  // send and recv: size()*count elements; block p of send goes to rank p, block p of recv came
  // from rank p.
  Status AllToAll(const void* send, void* recv, size_t count, DType dtype,
                  Request* async = nullptr);
  Status Send(const void* buf, size_t count, DType dtype, int peer, Request* async = nullptr);
  Status Recv(void* buf, size_t count, DType dtype, int peer, Request* async = nullptr);
  Status Barrier();

  Status GroupStart();
  Status GroupEnd();

  // What every call above is reduced to after validation; backends implement Launch(op).
  enum class OpKind {
    kAllReduce, kReduce, kBroadcast, kAllGather, kReduceScatter, kAllToAll, kSend, kRecv
  };
  struct Op {
    OpKind kind;
    const void* send;
    void* recv;
    size_t count;  // as passed to the public call
    DType dtype;
    RedOp redop;   // reductions only
    int root;      // Reduce / Broadcast root; Send / Recv peer
  };
  // True when `op`, called by `rank`, is in place in NCCL's sense (see the top of this file).
  static bool IsInPlace(const Op& op, int rank);

 protected:
  Communicator(int rank, int size) : rank_(rank), size_(size) {}

  // Starts `op`. With `async` set the backend stores its PendingOp there and may return before the
  // data moved; with nullptr it completes before returning. Never called with an invalid op.
  virtual Status Launch(const Op& op, Request* async) = 0;
  virtual Status BarrierImpl() = 0;
  // Backends with native grouping (NCCL) override these; the default does nothing, which is
  // correct for backends whose Launch(async != nullptr) never blocks on a peer.
  virtual Status GroupStartImpl() { return Status::Ok(); }
  virtual Status GroupEndImpl() { return Status::Ok(); }

 private:
  Status Validate(const Op& op) const;
  Status Submit(const Op& op, Request* async);

  int rank_;
  int size_;
  int group_depth_ = 0;
  std::vector<Request> group_pending_;  // blocking calls made inside a group, waited in GroupEnd
};

// Creates a communicator over all ranks of the job. kMpi / kShm need MPI initialized by the caller
// (MPI_Init or MPI_Init_thread) and use MPI_COMM_WORLD. kNccl bootstraps over MPI when built with
// it and MPI is initialized, otherwise over TCP from the environment Loom sets for every rank:
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (kernels/comm/rendezvous.h).
// kUnavailable: the backend is not compiled in or the device or peers cannot be reached.
StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const CommOptions& options = {});

}  // namespace loom::comm
