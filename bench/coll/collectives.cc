#include "bench/coll/collectives.h"

#include <algorithm>
#include <cmath>

namespace loom::bench::coll {
namespace {

using comm::Communicator;
using comm::DType;
using comm::RedOp;

// ---- Shapes -----------------------------------------------------------------------------------

Counts SameCount(size_t n, int /*nranks*/, int /*rank*/) { return {n, n, n, 0, 0}; }

Counts Gather(size_t n, int nranks, int rank) {  // all-gather: n is the total received
  const size_t p = n / nranks;
  return {p, p * nranks, p, p * rank, 0};
}

Counts Scatter(size_t n, int nranks, int rank) {  // reduce-scatter: n is the total sent
  const size_t p = n / nranks;
  return {p * nranks, p, p, 0, p * rank};
}

Counts Exchange(size_t n, int nranks, int /*rank*/) {  // all-to-all
  const size_t p = n / nranks;
  return {p * nranks, p * nranks, p, 0, 0};
}

double One(int) { return 1; }
double AllReduceFactor(int n) { return 2.0 * (n - 1) / n; }
double RingFactor(int n) { return static_cast<double>(n - 1) / n; }

// ---- Expected values --------------------------------------------------------------------------

double UnitRoundoff(DType d) {
  return d == DType::kBFloat16 ? 0x1p-8 : d == DType::kFloat16 ? 0x1p-11
                                        : d == DType::kFloat32 ? 0x1p-24 : 0;
}

// The reduction over ranks of send element j. Tolerance: any order of n-1 additions errs by at
// most (n-1)u * sum|x| (first order), the average's division adds u|avg|; max and min are exact.
Expected ReducedOverRanks(const CheckContext& c, size_t j) {
  double acc = Input(c.dtype, 0, j), abs_sum = std::fabs(acc);
  for (int r = 1; r < c.nranks; ++r) {
    const double x = Input(c.dtype, r, j);
    abs_sum += std::fabs(x);
    acc = c.op == RedOp::kMax ? std::max(acc, x) : c.op == RedOp::kMin ? std::min(acc, x) : acc + x;
  }
  if (c.op == RedOp::kMax || c.op == RedOp::kMin) return {acc, 0};
  const double u = UnitRoundoff(c.dtype);
  double tol = (c.nranks - 1) * u * abs_sum;
  if (c.op == RedOp::kAvg) {
    acc /= c.nranks;
    tol = tol / c.nranks + 2 * u * std::fabs(acc);
  }
  return {acc, tol};
}

std::optional<Expected> ExpectAllReduce(const CheckContext& c, size_t i) {
  return ReducedOverRanks(c, i);
}
std::optional<Expected> ExpectReduce(const CheckContext& c, size_t i) {
  if (c.rank != c.root) return std::nullopt;
  return ReducedOverRanks(c, i);
}
std::optional<Expected> ExpectBroadcast(const CheckContext& c, size_t i) {
  return Expected{Input(c.dtype, c.root, i), 0};
}
std::optional<Expected> ExpectAllGather(const CheckContext& c, size_t i) {
  const size_t p = c.counts.param;
  return Expected{Input(c.dtype, static_cast<int>(i / p), i % p), 0};
}
std::optional<Expected> ExpectReduceScatter(const CheckContext& c, size_t i) {
  return ReducedOverRanks(c, c.rank * c.counts.param + i);
}
std::optional<Expected> ExpectAllToAll(const CheckContext& c, size_t i) {
  // Block b of recv came from rank b, which sent its element (my rank)*p + i.
  const size_t p = c.counts.param;
  return Expected{Input(c.dtype, static_cast<int>(i / p), c.rank * p + i % p), 0};
}

// ---- Loom calls -------------------------------------------------------------------------------

Status RunAllReduce(Communicator& c, const void* s, void* r, size_t n, DType d, RedOp op, int, comm::Request* async) {
  return c.AllReduce(s, r, n, d, op, async);
}
Status RunReduce(Communicator& c, const void* s, void* r, size_t n, DType d, RedOp op, int root, comm::Request* async) {
  return c.Reduce(s, r, n, d, op, root, async);
}
Status RunBroadcast(Communicator& c, const void* s, void* r, size_t n, DType d, RedOp, int root, comm::Request* async) {
  return c.Broadcast(s, r, n, d, root, async);
}
Status RunAllGather(Communicator& c, const void* s, void* r, size_t n, DType d, RedOp, int, comm::Request* async) {
  return c.AllGather(s, r, n, d, async);
}
Status RunReduceScatter(Communicator& c, const void* s, void* r, size_t n, DType d, RedOp op,
                        int, comm::Request* async) {
  return c.ReduceScatter(s, r, n, d, op, async);
}
Status RunAllToAll(Communicator& c, const void* s, void* r, size_t n, DType d, RedOp, int, comm::Request* async) {
  return c.AllToAll(s, r, n, d, async);
}

// ---- Raw MPI calls ----------------------------------------------------------------------------

#if LOOM_COMM_HAVE_MPI
int RawAllReduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, int, MPI_Comm c) {
  return MPI_Allreduce(s, r, n, t, op, c);
}
int RawReduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, int root, MPI_Comm c) {
  return MPI_Reduce(s, r, n, t, op, root, c);
}
int RawBroadcast(const void*, void* r, int n, MPI_Datatype t, MPI_Op, int root, MPI_Comm c) {
  return MPI_Bcast(r, n, t, root, c);
}
int RawAllGather(const void* s, void* r, int n, MPI_Datatype t, MPI_Op, int, MPI_Comm c) {
  return MPI_Allgather(s, n, t, r, n, t, c);
}
int RawReduceScatter(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, int, MPI_Comm c) {
  return MPI_Reduce_scatter_block(s, r, n, t, op, c);
}
int RawAllToAll(const void* s, void* r, int n, MPI_Datatype t, MPI_Op, int, MPI_Comm c) {
  return MPI_Alltoall(s, n, t, r, n, t, c);
}
#define LOOM_RAW(fn) , fn
#else
#define LOOM_RAW(fn)
#endif

constexpr CollDesc kCollectives[] = {
    {"all_reduce", true, false, SameCount, AllReduceFactor, RunAllReduce, ExpectAllReduce
     LOOM_RAW(RawAllReduce)},
    {"reduce", true, true, SameCount, One, RunReduce, ExpectReduce LOOM_RAW(RawReduce)},
    {"broadcast", false, true, SameCount, One, RunBroadcast, ExpectBroadcast
     LOOM_RAW(RawBroadcast)},
    {"all_gather", false, false, Gather, RingFactor, RunAllGather, ExpectAllGather
     LOOM_RAW(RawAllGather)},
    {"reduce_scatter", true, false, Scatter, RingFactor, RunReduceScatter, ExpectReduceScatter
     LOOM_RAW(RawReduceScatter)},
    {"alltoall", false, false, Exchange, RingFactor, RunAllToAll, ExpectAllToAll
     LOOM_RAW(RawAllToAll)},
};

}  // namespace

double Input(DType dtype, int rank, size_t j) {
  (void)dtype;  // the same small integers suit every dtype
  return static_cast<double>((static_cast<size_t>(rank) * 5 + j * 3 + 1) % 17) - 8;
}

std::span<const CollDesc> AllCollectives() { return kCollectives; }

const CollDesc* FindCollective(std::string_view name) {
  for (const CollDesc& d : kCollectives) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

}  // namespace loom::bench::coll
