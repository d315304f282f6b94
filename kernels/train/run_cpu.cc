// loom-train --device cpu: one rank per MPI process, GEMMs on OpenBLAS, the all-reduce on MPI or
// shared memory. MFU is against a per-rank peak calibrated at start.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/gpu_models.h"
#include "kernels/comm/communicator.h"
#include "kernels/gemm/calibrate.h"
#include "kernels/train/model_shape.h"
#include "kernels/train/train_runs.h"
#include "kernels/train/train_step.h"

namespace loom::train::cli {
namespace {

// Everything after MPI_Init; returns the process exit code.
int Run(const Flags& f, int rank, int world) {
  auto fail = [rank](const std::string& msg) { return Fail(rank, msg); };
  const char* gpu_env = std::getenv("LOOM_GPU_MODEL");
  const std::string gpu_name = gpu_env && *gpu_env ? gpu_env : "H100-SXM-80GB";
  const GpuModel* gpu = FindGpuModel(gpu_name);
  if (gpu == nullptr) {
    return fail("unknown LOOM_GPU_MODEL '" + gpu_name + "' (known: " + KnownGpuModelNames() + ")");
  }
  if (Status fits = CheckFits(f.shape, gpu->memory_bytes); !fits.ok()) {
    return fail(fits.message() + " (" + gpu_name + ")");
  }
  comm::CommOptions comm_options;
  if (!comm::ParseBackend(f.backend, &comm_options.backend) ||
      comm_options.backend == comm::Backend::kNccl) {
    return fail("--backend must be auto, mpi or shm, got '" + f.backend + "'");
  }
  auto comm = comm::CreateCommunicator(comm_options);
  if (!comm.ok()) return fail(comm.status().ToString());

  TrainOptions options;
  options.optimizer = f.optimizer;
  options.bucket_bytes = static_cast<int64_t>(f.bucket_mb * (1 << 20));
  auto trainer = Trainer::Create(f.shape, options, comm->get());
  if (!trainer.ok()) return fail(trainer.status().ToString());

  // The GEMMs run on the CPU backend, so the peak is always calibrated, on every rank at once
  // (they share the machine as they will during the steps); MFU uses the ranks' mean.
  auto peak = gemm::CalibratePeakFlops(gemm::Backend::kCpu);
  if (!peak.ok()) return fail(peak.status().ToString());
  double peak_sum = 0;
  MPI_Allreduce(&*peak, &peak_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double peak_per_rank = peak_sum / world;

  // The gradients' all-reduce alone, blocking and without compute beside it: the communication
  // time the overlap has to hide (best of three after a first, warming call).
  std::vector<float> probe((*trainer)->gradients().size(), 1.0f);
  double comm_alone_s = 1e30;
  for (int i = 0; i < 4; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    Status st = (*comm)->AllReduce(probe.data(), probe.data(), probe.size(),
                                   comm::DType::kFloat32, comm::RedOp::kAvg);
    if (!st.ok()) return fail(st.ToString());
    if (i > 0) comm_alone_s = std::min(comm_alone_s, MPI_Wtime() - t0);
  }

  const ModelShape& s = f.shape;
  if (rank == 0 && !f.json) {
    std::printf("loom-train: %s L=%lld h=%lld a=%lld T=%lld V=%lld b=%lld, N=%.4g params, "
                "%d ranks, %s\n",
                s.name.c_str(), (long long)s.layers, (long long)s.hidden, (long long)s.heads,
                (long long)s.seq_len, (long long)s.vocab, (long long)s.micro_batch,
                (double)ParameterCount(s), world, (*comm)->Describe().c_str());
    std::printf("model FLOPs/step %.4g (6N %.4g + attention %.4g); issued by the step %.4g; "
                "calibrated peak %.1f GFLOP/s per rank\n",
                ModelFlopsPerStep(s, world),
                6.0 * ParameterCount(s) * s.tokens_per_rank() * world,
                12.0 * s.layers * s.hidden * s.seq_len * s.tokens_per_rank() * world,
                PlannedFlopsPerRank(s) * world, peak_per_rank / 1e9);
    const int64_t bytes = static_cast<int64_t>(probe.size() * sizeof(float));
    std::printf("gradient all-reduce alone: %.1f MB in %.2f ms, busbw %.2f GB/s\n", bytes / 1e6,
                comm_alone_s * 1e3, AllReduceBusBandwidth(bytes, world, comm_alone_s) / 1e9);
  }
  return RunAndReport(f, s, rank, world, peak_per_rank, [&] { return (*trainer)->Step(); });
}

}  // namespace

int RunCpu(int argc, char** argv, const Flags& flags) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const int rc = Run(flags, rank, world);
  MPI_Finalize();
  return rc;
}

}  // namespace loom::train::cli
