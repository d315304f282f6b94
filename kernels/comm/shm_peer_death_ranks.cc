// The rank program of comm_shm_peer_death_test (run under mpirun by that test, not by ctest
// directly): every local rank enters one shared-memory all-reduce and the last rank dies inside
// it (or fails in it). Each rank still alive prints one line with the Status its all-reduce
// returned and how long that took, then leaves with _exit: MPI_Finalize may wait forever for a
// dead peer.
//
//   shm_peer_death_ranks <how>   how = exit: _exit(3) in the middle of the all-reduce
//                                      kill: raise(SIGKILL) in the middle of the all-reduce
//                                      fail: the victim's step fails (as a cross-node MPI error
//                                            would) and it leaves the all-reduce alive
//
// "In the middle": the victim does its copy-in and reduction and dies in the hook that runs
// between reduction and copy-out (the cross-node step of a hierarchical all-reduce), so the
// survivors are waiting for its "reduced" flag, in the segment's wait loop.
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/comm/shm_allreduce.h"

int main(int argc, char** argv) {
  using loom::comm::DType;
  using loom::comm::RedOp;
  using loom::comm::ShmAllReduce;
  MPI_Init(&argc, &argv);
  const char* how = argc > 1 ? argv[1] : "exit";
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  auto shm = ShmAllReduce::Create(MPI_COMM_WORLD);
  if (!shm.ok()) {
    std::printf("rank %d: setup failed: %s\n", rank, shm.status().ToString().c_str());
    std::fflush(stdout);
    _exit(2);
  }
  // One all-reduce that completes, so the victim dies in a later call, as in a training run.
  std::vector<float> buf(1 << 20, 1.0f);  // 4 MiB: several chunks
  loom::Status warm = (*shm)->Run(buf.data(), buf.data(), buf.size(), DType::kFloat32, RedOp::kSum);
  if (!warm.ok() || buf[0] != static_cast<float>(size)) {
    std::printf("rank %d: warm-up all-reduce failed: %s\n", rank, warm.ToString().c_str());
    std::fflush(stdout);
    _exit(2);
  }
  MPI_Barrier(MPI_COMM_WORLD);

  const int victim = size - 1;
  ShmAllReduce::ShardHook hook = [&](void*, size_t, DType, RedOp) {
    if (rank != victim) return loom::Status::Ok();
    if (std::strcmp(how, "fail") == 0) return loom::Unavailable("injected cross-node failure");
    if (std::strcmp(how, "kill") == 0) raise(SIGKILL);
    _exit(3);
  };
  const auto start = std::chrono::steady_clock::now();
  loom::Status s = (*shm)->Run(buf.data(), buf.data(), buf.size(), DType::kFloat32, RedOp::kSum,
                               hook, size);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              start).count();
  std::printf("%s %d: after %.1f ms: %s\n", rank == victim ? "victim" : "survivor", rank, ms,
              s.ToString().c_str());
  std::fflush(stdout);
  _exit(0);
}
