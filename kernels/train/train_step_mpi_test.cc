// The training step over real ranks (run under mpirun -np 2): the all-reduce leaves every rank
// with the same gradients, and the step's time accounting adds up.
#include <gtest/gtest.h>
#include <mpi.h>

#include <vector>

#include "kernels/gemm/calibrate.h"
#include "kernels/train/train_step.h"

namespace loom::train {
namespace {

TEST(TrainStepMpiTest, GradientsAgreeAndTimeAddsUp) {
  auto comm = comm::CreateCommunicator({.backend = comm::Backend::kAuto});
  ASSERT_TRUE(comm.ok()) << comm.status().ToString();
  const ModelShape shape{"tiny", 2, 128, 4, 64, 1024, 2};
  // bucket_bytes 0: one bucket per layer plus the embedding's, so buckets overlap backward.
  auto trainer = Trainer::Create(shape, {.bucket_bytes = 0}, comm->get());
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  auto peak = gemm::CalibratePeakFlops(gemm::Backend::kCpu, 512, 3);
  ASSERT_TRUE(peak.ok()) << peak.status().ToString();

  for (int step = 0; step < 3; ++step) {
    auto stats = (*trainer)->Step();
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_EQ(stats->buckets, shape.layers + 1);
    EXPECT_EQ(stats->allreduce_bytes,
              static_cast<int64_t>((*trainer)->gradients().size() * sizeof(float)));
    EXPECT_DOUBLE_EQ(stats->issued_flops * (*comm)->size(), ModelFlopsPerStep(shape, 2));

    // Each rank trained on its own tokens, so only the all-reduce makes these equal.
    const std::vector<float>& g = (*trainer)->gradients();
    std::vector<float> lo(g.size()), hi(g.size());
    MPI_Allreduce(g.data(), lo.data(), static_cast<int>(g.size()), MPI_FLOAT, MPI_MIN,
                  MPI_COMM_WORLD);
    MPI_Allreduce(g.data(), hi.data(), static_cast<int>(g.size()), MPI_FLOAT, MPI_MAX,
                  MPI_COMM_WORLD);
    size_t differ = 0;
    for (size_t i = 0; i < g.size(); ++i) differ += lo[i] != hi[i];
    EXPECT_EQ(differ, 0u) << "of " << g.size() << " gradients, step " << step;

    if (step == 0) continue;  // first touches of the buffers are not representative
    const StepReport r = MakeReport(shape, (*comm)->size(), *stats, *peak);
    EXPECT_LE(r.exposed_comm_ms, r.step_ms);
    EXPECT_NEAR(r.compute_ms + r.exposed_comm_ms, r.step_ms, 0.1 * r.step_ms);
    EXPECT_GT(r.mfu, 0.0);
    EXPECT_LE(r.mfu, 1.0);
    EXPECT_GT(r.busbw_gbps, 0.0);
  }
}

}  // namespace
}  // namespace loom::train
