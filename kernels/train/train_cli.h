// loom-train's command line and its step loop, shared by the CPU run (MPI ranks, run_cpu.cc) and
// the GPU run (one process per GPU, run_gpu.cc). No MPI, CUDA or gRPC here, so it is tested on
// any machine.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "kernels/comm/rendezvous.h"
#include "kernels/gemm/gemm.h"
#include "kernels/train/model_shape.h"
#include "kernels/train/train_step.h"

namespace loom::train::cli {

extern const char kUsage[];

struct Flags {
  ModelShape shape{"small", 4, 256, 4, 256, 8192, 2};
  int steps = 5;
  int warmup = 1;
  double bucket_mb = 1.0;
  std::string backend = "auto";  // the CPU run's communicator; the GPU run's is always nccl
  Optimizer optimizer = Optimizer::kAdam;
  bool gpu = false;                           // --device gpu
  gemm::Backend gemm = gemm::Backend::kLoom;  // --gemm, GPU only
  bool layers_fit = false;                    // --layers fit: as many layers as the device holds
  bool json = false;
};

// Parses argv. INVALID_ARGUMENT with an empty message for --help, else one line naming the flag.
StatusOr<Flags> ParseFlags(int argc, char** argv);

// The rank this process will have, from the launcher's environment (Open MPI's, PMI's or the
// torch-style RANK), before MPI or NCCL is up: so only rank 0 prints a bad command line.
int RankFromEnvironment();

// The GPU run's ranks: without WORLD_SIZE, or with WORLD_SIZE=1, one process on one GPU
// (LOCAL_RANK, if set, still picks the device); else RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
// MASTER_PORT as comm::RendezvousEnvFromEnvironment reads them (INVALID_ARGUMENT naming the one
// missing or malformed).
StatusOr<comm::RendezvousEnv> GpuLaunchEnvironment();

// Rank 0's steps besides stdout: loomd's StepReporter when built with the control plane.
class StepSink {
 public:
  virtual ~StepSink() = default;
  virtual void Record(const StepReport& report, double model_flops_per_step) = 0;
};
// Defined by loom_train_main.cc: a reporter when started by Loom, else nullptr.
StatusOr<std::unique_ptr<StepSink>> MakeStepSink();

// Runs warm-up then timed steps; on `print_rank` prints each step (a line, or JSON with --json)
// and the medians of the timed steps, and records every step, warm-up included, in `sink`.
Status RunSteps(const Flags& f, const ModelShape& shape, int world, double peak_flops_per_rank,
                bool print_rank, const std::function<StatusOr<StepStats>()>& step, StepSink* sink);

}  // namespace loom::train::cli
