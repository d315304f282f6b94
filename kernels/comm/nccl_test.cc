// The NCCL backend end to end in one process (bootstrapped over TCP with WORLD_SIZE=1): init, every
// op, destroy. Multi-GPU runs go through collectives_test's "nccl" case under mpirun. Skips, saying
// why, on a machine without a CUDA device.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "kernels/comm/buffer.h"
#include "kernels/comm/communicator.h"

namespace loom::comm {
namespace {

class NcclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
      GTEST_SKIP() << "no CUDA device: " << (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    setenv("RANK", "0", 1);
    setenv("WORLD_SIZE", "1", 1);
    StatusOr<std::unique_ptr<Communicator>> c = CreateCommunicator({.backend = Backend::kNccl});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    comm_ = std::move(c).value();
    ASSERT_EQ(comm_->memory_kind(), MemoryKind::kCuda);
  }

  // Uploads `in` (float), runs `op` from the send to the recv buffer, returns recv (float).
  template <class Op>
  std::vector<float> Run(const std::vector<float>& in, size_t out_count, Op op) {
    StatusOr<Buffer> send = Buffer::Allocate(MemoryKind::kCuda, in.size() * 4);
    StatusOr<Buffer> recv = Buffer::Allocate(MemoryKind::kCuda, out_count * 4);
    EXPECT_TRUE(send.ok() && recv.ok());
    EXPECT_TRUE(send->Upload(in.data(), in.size() * 4).ok());
    const Status s = op(send->data(), recv->data());
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<float> out(out_count);
    EXPECT_TRUE(recv->Download(out.data(), out.size() * 4).ok());
    return out;
  }

  std::unique_ptr<Communicator> comm_;
};

TEST_F(NcclTest, EveryOpOnOneRank) {
  const size_t n = 1001;
  std::vector<float> in(n);
  for (size_t i = 0; i < n; ++i) in[i] = float(i % 17) - 8;
  const DType f = DType::kFloat32;
  auto& c = *comm_;
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.AllReduce(s, r, n, f, RedOp::kSum); }), in);
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.AllReduce(s, r, n, f, RedOp::kAvg); }), in);
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.Reduce(s, r, n, f, RedOp::kMax, 0); }), in);
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.Broadcast(s, r, n, f, 0); }), in);
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.AllGather(s, r, n, f); }), in);
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.ReduceScatter(s, r, n, f, RedOp::kMin); }), in);
  EXPECT_EQ(Run(in, n, [&](void* s, void* r) { return c.AllToAll(s, r, n, f); }), in);
  EXPECT_EQ(Run(in, n,
                [&](void* s, void* r) -> Status {
                  LOOM_RETURN_IF_ERROR(c.GroupStart());
                  LOOM_RETURN_IF_ERROR(c.Send(s, n, f, 0));
                  LOOM_RETURN_IF_ERROR(c.Recv(r, n, f, 0));
                  return c.GroupEnd();
                }),
            in);
  EXPECT_EQ(Run(in, n,
                [&](void* s, void* r) -> Status {
                  Request req;
                  LOOM_RETURN_IF_ERROR(c.AllReduce(s, r, n, f, RedOp::kSum, &req));
                  return req.Wait();
                }),
            in);
  EXPECT_TRUE(c.Barrier().ok());
}

}  // namespace
}  // namespace loom::comm
