// loom-train's two runs, each in its own file so a build has only what it can link: run_cpu.cc
// (MPI ranks, GEMMs on the CPU) and run_gpu.cc (CUDA, NCCL over the TCP rendezvous).
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "kernels/train/train_cli.h"

namespace loom::train::cli {

// Each returns the process's exit code; errors are one line on stderr from rank 0.
int RunCpu(int argc, char** argv, const Flags& flags);
int RunGpu(const Flags& flags);

inline int Fail(int rank, const std::string& message) {
  if (rank == 0) std::fprintf(stderr, "loom-train: %s\n", message.c_str());
  return 1;
}

// RunSteps with rank 0 reporting to loomd when started by Loom; the exit code.
inline int RunAndReport(const Flags& f, const ModelShape& s, int rank, int world,
                        double peak_flops_per_rank,
                        const std::function<StatusOr<StepStats>()>& step) {
  std::unique_ptr<StepSink> sink;
  if (rank == 0) {
    auto made = MakeStepSink();
    if (!made.ok()) return Fail(rank, made.status().message());
    sink = std::move(*made);
  }
  const Status st = RunSteps(f, s, world, peak_flops_per_rank, rank == 0, step, sink.get());
  return st.ok() ? 0 : Fail(rank, st.ToString());
}

}  // namespace loom::train::cli
