// The intra-node all-reduce over a POSIX shared-memory segment: the CPU counterpart of NCCL's SHM
// transport, for ranks that are processes of one machine.
//
// Algorithm (per chunk of at most chunk_bytes of the caller's buffer, chunks pipelined through
// kDepth slots so a fast rank can copy the next chunk in while a slow one still reads the last):
//   1. copy in:   every rank copies its chunk, but for its own shard, into its own slot
//                                                                                -> copied[me] = seq
//   2. reduce:    rank r reduces shard r of the chunk across all slots and its own input (one
//                 ReduceN over L sources, vectorized, fp32 accumulation) and writes it into shard
//                 r of its own slot;
//                 optionally all-reduces that shard across nodes (hierarchical) -> reduced[me] = seq
//   3. copy out:  every rank copies shard j of slot j, for all j, into its output -> consumed[me]
// i.e. a reduce-scatter then an all-gather through memory both ranks can see, with the reduction
// work split evenly. The slots stay in cache (kDepth * L * chunk_bytes is a few MiB), so DRAM sees
// roughly one read of the input and one write of the output per rank.
//
// Synchronization is by monotonically increasing sequence numbers, one set of counters per rank on
// its own cache line, written with release and read with acquire. Waiting spins briefly and then
// yields: with more ranks than cores (CI runs 8 ranks on 2 cores) a pure spin starves the rank
// being waited for.
//
// Failure: no rank may spin forever on a peer that is gone. Each rank records its pid and world
// rank in the segment; a wait that has lasted past the spin phase checks, every kLivenessCheckMs,
// that the ranks it waits for are alive (kill(pid, 0), and not a zombie) and that no rank has
// aborted the segment. A rank that leaves a collective with an error (a dead peer, a failed
// cross-node step) aborts the segment first, so ranks waiting on *it* stop too. The segment is
// then broken for good (the ranks' sequence numbers no longer agree): every later Run returns the
// first error. Open MPI's mpirun usually kills the whole job when a rank dies; this covers
// launches that keep the job (--enable-recovery, other launchers) and errors that are not deaths.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "kernels/comm/types.h"

namespace loom::comm {

class ShmAllReduce {
 public:
  static constexpr int kDepth = 4;  // chunks in flight
  static constexpr size_t kDefaultChunkBytes = 256 * 1024;
  static constexpr int kMaxLocalRanks = 256;
  static constexpr int kLivenessCheckMs = 10;  // a syscall or two per peer, 100 times a second

  // Called on the reduced shard (in place) between steps 2 and 3, for the cross-node part of a
  // hierarchical all-reduce; `op` is never kAvg (the caller divides by the world size).
  using ShardHook = std::function<Status(void* shard, size_t count, DType dtype, RedOp op)>;

  // Collective over `local` (ranks that share memory, at most kMaxLocalRanks): maps one segment, then unlinks its name, so
  // nothing is left in /dev/shm even if a rank dies later. kUnavailable when any rank fails.
  static StatusOr<std::unique_ptr<ShmAllReduce>> Create(MPI_Comm local,
                                                        size_t chunk_bytes = kDefaultChunkBytes);
  ~ShmAllReduce();

  // All-reduce over the local ranks, followed by `cross_node` on each shard when given; kAvg then
  // divides by `avg_divisor` (the world size). send may equal recv. kUnavailable naming the rank
  // when a local rank died or left an earlier step with an error; the object is then broken and
  // every later call returns that first error.
  Status Run(const void* send, void* recv, size_t count, DType dtype, RedOp op,
             const ShardHook& cross_node = nullptr, int avg_divisor = 0);

  int local_rank() const { return rank_; }
  int local_size() const { return size_; }
  size_t chunk_bytes() const { return chunk_bytes_; }

 private:
  struct alignas(64) Counters {  // one cache line per rank: no false sharing between ranks
    uint64_t copied, reduced, consumed;
    int64_t pid;         // written once, by the rank itself, before the first collective
    int64_t world_rank;  // for error messages
  };
  struct alignas(64) Shared {  // after the ranks' counters
    // 0 while usable; else, in one word so that readers see all of it at once: bits 32+ hold
    // 1 + the local rank that aborted, bits 1-31 the rank it blames, bit 0 whether that one died.
    uint64_t abort;
  };

  ShmAllReduce(int rank, int size, size_t chunk_bytes, void* base, size_t bytes);
  Counters& counters(int r) const;
  char* slot(uint64_t seq, int r) const;
  void Publish(uint64_t Counters::*field, uint64_t seq) const;
  Shared& shared() const;
  Status WaitAll(uint64_t Counters::*field, uint64_t seq);
  Status CheckPeers(int waiting_for);
  Status Abort(Status why, int blamed, bool died);
  std::string Name(int local_rank) const;
  Status RunChunk(const char* send, char* recv, size_t count, DType dtype, RedOp op,
                  const ShardHook& cross_node, int avg_divisor, bool stream);

  int rank_;
  int size_;
  size_t chunk_bytes_;
  void* base_;
  size_t bytes_;
  uint64_t seq_ = 0;  // chunks run so far; identical on every local rank
  bool check_pids_ = true;    // false when the peers' pids mean nothing here (pid namespaces)
  Status broken_;             // the first failure; Ok while the segment is usable
};

}  // namespace loom::comm
