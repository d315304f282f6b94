// Conformance of every Communicator backend under mpirun: every op x dtype x redop, in place and
// out of place, counts 0, 1, odd, non-power-of-two and multi-MiB, roots other than 0. Each rank
// computes the expected result itself from the closed-form inputs of every rank.
//
// Error bounds. Inputs of reductions are integers in [-8, 8]. With at most 8 ranks every partial
// sum, in whatever order a backend adds, is an integer of magnitude <= 64 < 2^8, exactly
// representable in bf16 (8-bit significand), fp16 (11) and fp32 (24): sum, max and min must be
// exact for every dtype. Average adds the division: the MPI path rounds s/n once (error <= u|s/n|,
// u = 2^-8 bf16, 2^-11 fp16, 2^-24 fp32); the shared-memory path divides in fp32 and then narrows
// (two roundings, <= (u + 2^-24)|s/n|). The check allows 2u|s/n| for avg and nothing otherwise, so
// a lost, doubled or misplaced contribution (an error of at least 1) always fails.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kernels/comm/backends.h"
#include "kernels/comm/buffer.h"
#include "kernels/comm/communicator.h"

namespace loom::comm {
namespace {

// ---- Backends under test ----------------------------------------------------------------------

struct BackendCase {
  std::string name;
  CommOptions options;
};

std::vector<BackendCase> Backends() {
  CommOptions mpi{.backend = Backend::kMpi};
  CommOptions shm{.backend = Backend::kShm, .shm_min_bytes = 0};
  CommOptions autod{.backend = Backend::kAuto};
  // Two "nodes" of ranks_per_node ranks on one machine: intra-node shm, MPI across.
  CommOptions hier{.backend = Backend::kShm, .shm_min_bytes = 0, .ranks_per_node = 2};
  CommOptions nccl{.backend = Backend::kNccl};
  return {{"mpi", mpi}, {"shm", shm}, {"auto", autod}, {"hier", hier}, {"nccl", nccl}};
}

// Communicators are collective to create: made once per backend, in test order (the same on every
// rank), and freed before MPI_Finalize by the environment below.
std::map<std::string, std::unique_ptr<Communicator>>& Cache() {
  static auto* cache = new std::map<std::string, std::unique_ptr<Communicator>>();
  return *cache;
}

class FreeCommunicators : public ::testing::Environment {
 public:
  void TearDown() override { Cache().clear(); }
};
[[maybe_unused]] auto* const kEnv = ::testing::AddGlobalTestEnvironment(new FreeCommunicators);

int WorldSize() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// ---- Inputs and checks ------------------------------------------------------------------------

// Element i contributed by `source` (a rank, or rank and destination for all-to-all).
double Input(DType d, int source, size_t i) {
  if (d == DType::kInt32) return static_cast<double>((source * 7919 + i * 104729) % 20001) - 10000;
  return static_cast<double>((source * 5 + i * 3 + 1) % 17) - 8;  // integers in [-8, 8]
}

double Tolerance(DType d, RedOp op, double expected) {
  if (op != RedOp::kAvg) return 0;
  const double u = d == DType::kBFloat16 ? 0x1p-8 : d == DType::kFloat16 ? 0x1p-11 : 0x1p-24;
  return 2 * u * std::fabs(expected);
}

double Reduced(DType d, RedOp op, int nranks, size_t i, int (*source)(int rank, int me), int me) {
  double acc = Input(d, source(0, me), i);
  for (int r = 1; r < nranks; ++r) {
    const double x = Input(d, source(r, me), i);
    acc = op == RedOp::kMax ? std::max(acc, x) : op == RedOp::kMin ? std::min(acc, x) : acc + x;
  }
  return op == RedOp::kAvg ? acc / nranks : acc;
}

int SourceIsRank(int rank, int /*me*/) { return rank; }

// One call of one op, as nccl-tests describes it: element counts of send and recv, where the two
// sit in the single buffer of the in-place variant, the input, the expected output.
struct Call {
  DType dtype;
  RedOp op = RedOp::kSum;
  size_t send_count, recv_count;
  size_t in_place_send_offset = 0, in_place_recv_offset = 0;
  std::function<double(size_t)> input;
  std::function<std::optional<double>(size_t)> expect;  // nullopt: recv is not defined here
  std::function<Status(Communicator&, const void* send, void* recv)> run;
};

class CollectivesTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    const BackendCase& b = GetParam();
    if (b.options.backend == Backend::kNccl && !internal::NcclDeviceAvailable()) {
      GTEST_SKIP() << "no CUDA device: the nccl backend runs on the GPU machine";
    }
    // At 3 ranks the "nodes" are {0, 1} and {2}: unequal, so the communicator falls back to MPI
    // (shm off), and the case checks that fallback's results. From 4 ranks: the hierarchical path.
    if (b.options.ranks_per_node > 0 && WorldSize() <= b.options.ranks_per_node) {
      GTEST_SKIP() << "hierarchical case needs more than " << b.options.ranks_per_node
                   << " ranks (at least two nodes)";
    }
    auto& slot = Cache()[b.name];
    if (!slot) {
      StatusOr<std::unique_ptr<Communicator>> c = CreateCommunicator(b.options);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      slot = std::move(c).value();
    }
    comm_ = slot.get();
  }

  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }

  // Runs `call` and returns how many elements of recv are wrong (the first few are reported).
  int Check(const Call& c, bool in_place) {
    const size_t es = DTypeSize(c.dtype);
    const size_t send_off = in_place ? c.in_place_send_offset : 0;
    const size_t recv_off = in_place ? c.in_place_recv_offset : 0;
    const size_t one = std::max(send_off + c.send_count, recv_off + c.recv_count);
    std::vector<char> host(std::max(one, c.send_count + c.recv_count) * es);
    for (size_t i = 0; i < c.send_count; ++i) SetElement(host.data(), send_off + i, c.dtype, c.input(i));
    // Out of place, recv follows send and starts as a sentinel that no result equals.
    const size_t recv_at = in_place ? recv_off : c.send_count;
    if (!in_place) {
      for (size_t i = 0; i < c.recv_count; ++i) SetElement(host.data(), recv_at + i, c.dtype, 99);
    }
    StatusOr<Buffer> buf = Buffer::Allocate(comm_->memory_kind(), host.size());
    EXPECT_TRUE(buf.ok()) << buf.status().ToString();
    if (!buf.ok()) return -1;
    EXPECT_TRUE(buf->Upload(host.data(), host.size()).ok());
    char* base = static_cast<char*>(buf->data());
    const Status s = c.run(*comm_, base + send_off * es, base + recv_at * es);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(buf->Download(host.data(), host.size()).ok());
    int wrong = 0;
    for (size_t i = 0; i < c.recv_count; ++i) {
      const std::optional<double> want = c.expect(i);
      if (!want) continue;
      const double got = GetElement(host.data(), recv_at + i, c.dtype);
      if (std::fabs(got - *want) > Tolerance(c.dtype, c.op, *want) && ++wrong <= 3) {
        ADD_FAILURE() << "element " << i << ": got " << got << ", want " << *want;
      }
    }
    return wrong;
  }

  // Both variants of `call`, with a trace naming the case.
  void CheckBoth(const Call& c, const std::string& what) {
    for (bool in_place : {false, true}) {
      SCOPED_TRACE(what + " " + std::string(DTypeName(c.dtype)) + " " +
                   std::string(RedOpName(c.op)) + (in_place ? " in-place" : " out-of-place") +
                   " rank " + std::to_string(rank()) + "/" + std::to_string(size()));
      EXPECT_EQ(Check(c, in_place), 0);
    }
  }

  std::vector<int> Roots() const { return {size() - 1, size() / 2}; }

  Communicator* comm_ = nullptr;
};

constexpr size_t kCounts[] = {0, 1, 7, 1000, 65537};  // 65537 fp32 spans two shm chunks

// ---- Reductions -------------------------------------------------------------------------------

TEST_P(CollectivesTest, AllReduce) {
  for (DType d : kAllDTypes) {
    for (RedOp op : kAllRedOps) {
      if (!IsSupported(d, op)) continue;
      for (size_t n : kCounts) {
        Call c{.dtype = d, .op = op, .send_count = n, .recv_count = n};
        c.input = [&](size_t i) { return Input(d, rank(), i); };
        c.expect = [&](size_t i) { return Reduced(d, op, size(), i, SourceIsRank, rank()); };
        c.run = [&](Communicator& k, const void* s, void* r) {
          return k.AllReduce(s, r, n, d, op);
        };
        CheckBoth(c, "AllReduce n=" + std::to_string(n));
      }
    }
  }
}

TEST_P(CollectivesTest, Reduce) {
  for (int root : Roots()) {
    for (DType d : kAllDTypes) {
      for (RedOp op : kAllRedOps) {
        if (!IsSupported(d, op)) continue;
        for (size_t n : {0, 1, 7, 1000}) {
          Call c{.dtype = d, .op = op, .send_count = n, .recv_count = n};
          c.input = [&](size_t i) { return Input(d, rank(), i); };
          c.expect = [&](size_t i) -> std::optional<double> {
            if (rank() != root) return std::nullopt;
            return Reduced(d, op, size(), i, SourceIsRank, rank());
          };
          c.run = [&](Communicator& k, const void* s, void* r) {
            return k.Reduce(s, r, n, d, op, root);
          };
          CheckBoth(c, "Reduce root=" + std::to_string(root) + " n=" + std::to_string(n));
        }
      }
    }
  }
}

TEST_P(CollectivesTest, ReduceScatter) {
  for (DType d : kAllDTypes) {
    for (RedOp op : kAllRedOps) {
      if (!IsSupported(d, op)) continue;
      for (size_t n : {0, 1, 7, 1000}) {
        // Block b of rank r's input is element b*n + i; rank r receives the reduction of block r.
        Call c{.dtype = d, .op = op, .send_count = n * size(), .recv_count = n,
               .in_place_recv_offset = n * rank()};
        c.input = [&](size_t i) { return Input(d, rank(), i); };
        c.expect = [&](size_t i) {
          return Reduced(d, op, size(), rank() * n + i, SourceIsRank, rank());
        };
        c.run = [&](Communicator& k, const void* s, void* r) {
          return k.ReduceScatter(s, r, n, d, op);
        };
        CheckBoth(c, "ReduceScatter n=" + std::to_string(n));
      }
    }
  }
}

// ---- Data movement ----------------------------------------------------------------------------

TEST_P(CollectivesTest, Broadcast) {
  for (int root : Roots()) {
    for (DType d : kAllDTypes) {
      for (size_t n : kCounts) {
        Call c{.dtype = d, .send_count = n, .recv_count = n};
        c.input = [&](size_t i) { return Input(d, rank(), i); };
        c.expect = [&](size_t i) { return Input(d, root, i); };
        c.run = [&](Communicator& k, const void* s, void* r) {
          return k.Broadcast(s, r, n, d, root);
        };
        CheckBoth(c, "Broadcast root=" + std::to_string(root) + " n=" + std::to_string(n));
      }
    }
  }
}

TEST_P(CollectivesTest, AllGather) {
  for (DType d : kAllDTypes) {
    for (size_t n : kCounts) {
      Call c{.dtype = d, .send_count = n, .recv_count = n * size(),
             .in_place_send_offset = n * rank()};
      c.input = [&](size_t i) { return Input(d, rank(), i); };
      c.expect = [&](size_t i) { return Input(d, static_cast<int>(i / n), i % n); };
      c.run = [&](Communicator& k, const void* s, void* r) { return k.AllGather(s, r, n, d); };
      CheckBoth(c, "AllGather n=" + std::to_string(n));
    }
  }
}

TEST_P(CollectivesTest, AllToAll) {
  // Block p of rank r's input is meant for rank p: its source id is r*1009 + p.
  for (DType d : kAllDTypes) {
    for (size_t n : {0, 1, 7, 1000}) {
      Call c{.dtype = d, .send_count = n * size(), .recv_count = n * size()};
      c.input = [&](size_t i) { return Input(d, rank() * 1009 + static_cast<int>(i / n), i % n); };
      c.expect = [&](size_t i) {
        return Input(d, static_cast<int>(i / n) * 1009 + rank(), i % n);
      };
      c.run = [&](Communicator& k, const void* s, void* r) { return k.AllToAll(s, r, n, d); };
      CheckBoth(c, "AllToAll n=" + std::to_string(n));
    }
  }
}

TEST_P(CollectivesTest, SendRecvRingInAGroup) {
  // Every rank sends to its right and receives from its left, blocking calls inside a group: they
  // must not deadlock, and complete in GroupEnd().
  const int right = (rank() + 1) % size(), left = (rank() + size() - 1) % size();
  for (DType d : kAllDTypes) {
    for (size_t n : {0, 1, 1000, 70001}) {
      Call c{.dtype = d, .send_count = n, .recv_count = n};
      c.input = [&](size_t i) { return Input(d, rank(), i); };
      c.expect = [&](size_t i) { return Input(d, left, i); };
      c.run = [&](Communicator& k, const void* s, void* r) {
        LOOM_RETURN_IF_ERROR(k.GroupStart());
        LOOM_RETURN_IF_ERROR(k.Send(s, n, d, right));
        LOOM_RETURN_IF_ERROR(k.Recv(r, n, d, left));
        return k.GroupEnd();
      };
      SCOPED_TRACE("SendRecv " + std::string(DTypeName(d)) + " n=" + std::to_string(n));
      EXPECT_EQ(Check(c, /*in_place=*/false), 0);
    }
  }
}

// ---- Multi-MiB, barrier ---------------------------------------------------------

TEST_P(CollectivesTest, MultiMiBAllReduce) {
  struct Big { DType d; RedOp op; size_t n; };
  // 3 MiB + 4 B of fp32 sum; 2 MiB + 2 B of bf16 avg: many shm chunks and a ragged last one.
  for (const Big b : {Big{DType::kFloat32, RedOp::kSum, 786433},
                      Big{DType::kBFloat16, RedOp::kAvg, 1048577}}) {
    Call c{.dtype = b.d, .op = b.op, .send_count = b.n, .recv_count = b.n};
    c.input = [&](size_t i) { return Input(b.d, rank(), i); };
    c.expect = [&](size_t i) { return Reduced(b.d, b.op, size(), i, SourceIsRank, rank()); };
    c.run = [&](Communicator& k, const void* s, void* r) {
      return k.AllReduce(s, r, b.n, b.d, b.op);
    };
    CheckBoth(c, "AllReduce n=" + std::to_string(b.n));
  }
}

// ---- Asynchronous operations ------------------------------------------------------------------

// One in-place all-reduce whose buffer holds this rank's input until it runs, so that the result
// can be checked after any interleaving of async and blocking calls.
class InPlaceAllReduce {
 public:
  InPlaceAllReduce(Communicator& comm, DType d, RedOp op, size_t n)
      : comm_(comm), d_(d), op_(op), n_(n), host_(n * DTypeSize(d)) {
    for (size_t i = 0; i < n; ++i) SetElement(host_.data(), i, d, Input(d, comm.rank(), i));
    StatusOr<Buffer> b = Buffer::Allocate(comm.memory_kind(), host_.size());
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (b.ok()) buf_ = std::move(b).value();
    EXPECT_TRUE(buf_.Upload(host_.data(), host_.size()).ok());
  }

  Status Start(Request* async = nullptr) {
    return comm_.AllReduce(buf_.data(), buf_.data(), n_, d_, op_, async);
  }

  // Elements that differ from the expected reduction (the first few are reported).
  int Wrong() {
    EXPECT_TRUE(buf_.Download(host_.data(), host_.size()).ok());
    int wrong = 0;
    for (size_t i = 0; i < n_; ++i) {
      const double want = Reduced(d_, op_, comm_.size(), i, SourceIsRank, comm_.rank());
      const double got = GetElement(host_.data(), i, d_);
      if (std::fabs(got - want) > Tolerance(d_, op_, want) && ++wrong <= 3) {
        ADD_FAILURE() << DTypeName(d_) << " " << RedOpName(op_) << " n=" << n_ << " element " << i
                      << ": got " << got << ", want " << want;
      }
    }
    return wrong;
  }

 private:
  Communicator& comm_;
  DType d_;
  RedOp op_;
  size_t n_;
  std::vector<char> host_;
  Buffer buf_;
};

// "Compute" on the calling thread while a transfer may be in flight.
void Compute() {
  volatile double work = 0;
  for (int i = 0; i < 200000; ++i) work = work + i;
}

// Every CPU backend returns a pending Request; the hierarchical shm all-reduce only at
// MPI_THREAD_MULTIPLE (which mpi_gtest_main asks for), otherwise it runs on the calling thread.
bool AllReduceIsAsync(const BackendCase& b) {
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  return b.name != "hier" || level == MPI_THREAD_MULTIPLE;
}

// kShm / kAuto run every call after all earlier ones completed (the progress engine's FIFO); MPI
// promises no completion order between independent non-blocking operations.
bool CompletesInIssueOrder(const BackendCase& b) {
  return b.options.backend == Backend::kShm || b.options.backend == Backend::kAuto;
}

TEST_P(CollectivesTest, AsyncAllReduceOverlapsCompute) {
  InPlaceAllReduce ar(*comm_, DType::kFloat32, RedOp::kMax, 100003);  // 400 KB: shm on auto
  // Rank 0 issues first and the others come 20 ms later, so rank 0's all-reduce cannot have
  // completed when its call returns: a backend that ran it synchronously would fail here.
  ASSERT_TRUE(comm_->Barrier().ok());
  if (rank() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Request req;
  ASSERT_TRUE(ar.Start(&req).ok());
  if (rank() == 0 && AllReduceIsAsync(GetParam())) {
    StatusOr<bool> done = req.Test();
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_FALSE(*done) << "the all-reduce completed before the other ranks issued theirs";
  }
  Compute();
  ASSERT_TRUE(req.Wait().ok());
  EXPECT_FALSE(req.pending());
  EXPECT_EQ(ar.Wrong(), 0);
}

TEST_P(CollectivesTest, OutstandingAsyncAllReducesCompleteInOrder) {
  // Different dtypes, ops and sizes (one spanning several shm chunks), all in flight at once.
  std::vector<std::unique_ptr<InPlaceAllReduce>> ops;
  ops.push_back(std::make_unique<InPlaceAllReduce>(*comm_, DType::kFloat32, RedOp::kSum, 300001));
  ops.push_back(std::make_unique<InPlaceAllReduce>(*comm_, DType::kBFloat16, RedOp::kAvg, 4099));
  ops.push_back(std::make_unique<InPlaceAllReduce>(*comm_, DType::kInt32, RedOp::kMin, 70000));
  ops.push_back(std::make_unique<InPlaceAllReduce>(*comm_, DType::kFloat16, RedOp::kMax, 1025));
  std::vector<Request> reqs(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) ASSERT_TRUE(ops[i]->Start(&reqs[i]).ok());
  Compute();
  // Waiting for the last one first: the ones issued before it must be complete by then.
  ASSERT_TRUE(reqs.back().Wait().ok());
  if (CompletesInIssueOrder(GetParam())) {
    for (size_t i = 0; i + 1 < reqs.size(); ++i) {
      StatusOr<bool> done = reqs[i].Test();
      ASSERT_TRUE(done.ok()) << done.status().ToString();
      EXPECT_TRUE(*done) << "all-reduce " << i << " not complete after a later one";
    }
  }
  for (Request& r : reqs) ASSERT_TRUE(r.Wait().ok());
  for (auto& op : ops) EXPECT_EQ(op->Wrong(), 0);
}

TEST_P(CollectivesTest, BlockingAndAsyncCallsMix) {
  // async, blocking all-reduce, blocking broadcast (MPI on every CPU backend), async, barrier:
  // each rank runs them in issue order whichever thread does the work.
  InPlaceAllReduce first(*comm_, DType::kFloat32, RedOp::kSum, 200000);
  InPlaceAllReduce blocking(*comm_, DType::kBFloat16, RedOp::kSum, 100000);
  InPlaceAllReduce last(*comm_, DType::kFloat32, RedOp::kAvg, 5000);
  const size_t nb = 1000;
  std::vector<float> bcast(nb);
  for (size_t i = 0; i < nb; ++i) bcast[i] = static_cast<float>(rank() * 1000 + i);
  Request r1, r2;
  ASSERT_TRUE(first.Start(&r1).ok());
  ASSERT_TRUE(blocking.Start().ok());
  if (CompletesInIssueOrder(GetParam())) {
    StatusOr<bool> done = r1.Test();  // a blocking call ran after every earlier call
    ASSERT_TRUE(done.ok());
    EXPECT_TRUE(*done);
  }
  if (comm_->memory_kind() == MemoryKind::kHost) {
    ASSERT_TRUE(comm_->Broadcast(bcast.data(), bcast.data(), nb, DType::kFloat32, 0).ok());
  }
  ASSERT_TRUE(last.Start(&r2).ok());
  Compute();
  ASSERT_TRUE(comm_->Barrier().ok());
  ASSERT_TRUE(r2.Wait().ok());
  ASSERT_TRUE(r1.Wait().ok());
  EXPECT_EQ(first.Wrong(), 0);
  EXPECT_EQ(blocking.Wrong(), 0);
  EXPECT_EQ(last.Wrong(), 0);
  if (comm_->memory_kind() == MemoryKind::kHost) {
    for (size_t i = 0; i < nb; ++i) ASSERT_EQ(bcast[i], static_cast<float>(i)) << "element " << i;
  }
}

TEST_P(CollectivesTest, Barrier) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(comm_->Barrier().ok());
}

TEST_P(CollectivesTest, RejectsInvalidCalls) {
  std::vector<float> a(64 * size()), b(64 * size());
  std::vector<int32_t> ai(8);
  auto code = [](const Status& s) { return s.code(); };
  EXPECT_EQ(code(comm_->Reduce(a.data(), b.data(), 8, DType::kFloat32, RedOp::kSum, size())),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(comm_->Broadcast(a.data(), b.data(), 8, DType::kFloat32, -1)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(comm_->AllReduce(ai.data(), ai.data(), 8, DType::kInt32, RedOp::kAvg)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(comm_->AllReduce(a.data(), a.data() + 1, 8, DType::kFloat32, RedOp::kSum)),
            StatusCode::kInvalidArgument);  // overlapping, not in place
  EXPECT_EQ(code(comm_->AllGather(a.data(), nullptr, 8, DType::kFloat32)),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(comm_->GroupEnd()), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(comm_->GroupStart().ok());
  EXPECT_EQ(code(comm_->Barrier()), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(comm_->GroupEnd().ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, CollectivesTest, ::testing::ValuesIn(Backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace loom::comm
