// One small descriptor per collective, as nccl-tests has one file per op filling in `testColl`:
// how the size column splits into send/recv counts, the bus-bandwidth factor, the Loom call, the
// raw MPI call for the baseline, and the expected result for the check. The harness
// (harness.cc) owns everything else.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "common/status.h"
#include "kernels/comm/communicator.h"
#if LOOM_COMM_HAVE_MPI
#include <mpi.h>
#endif

namespace loom::bench::coll {

// Element counts of one call, nccl-tests' GetCollByteCount: `param` is the count passed to the
// call; in place, send and recv sit in one buffer at these element offsets.
struct Counts {
  size_t send, recv, param;
  size_t in_place_send_offset, in_place_recv_offset;
};

struct CheckContext {
  int rank, nranks, root;
  comm::DType dtype;
  comm::RedOp op;
  Counts counts;
};

// What recv element i must hold, within `tolerance`.
struct Expected {
  double value;
  double tolerance;
};

// Element j of rank r's send buffer: small integers, so that sums stay exact in every dtype for
// up to 16 ranks (|partial sums| <= 128 < 2^8) and a wrong element is off by at least 1.
double Input(comm::DType dtype, int rank, size_t j);

struct CollDesc {
  std::string_view name;
  bool uses_redop, uses_root;
  Counts (*counts)(size_t elements, int nranks, int rank);
  double (*bus_factor)(int nranks);  // busbw = algbw * factor (nccl-tests' PERFORMANCE.md)
  Status (*run)(comm::Communicator& c, const void* send, void* recv, size_t count,
                comm::DType dtype, comm::RedOp op, int root, comm::Request* async);
  std::optional<Expected> (*expect)(const CheckContext& ctx, size_t i);
#if LOOM_COMM_HAVE_MPI
  // The same operation as one blocking MPI call, without Loom (kAvg: MPI_SUM, no division).
  int (*raw_mpi)(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op, int root,
                 MPI_Comm comm);
#endif
};

std::span<const CollDesc> AllCollectives();
const CollDesc* FindCollective(std::string_view name);

}  // namespace loom::bench::coll
