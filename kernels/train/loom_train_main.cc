// loom-train: data-parallel training steps of a GPT-shaped model. --device cpu (the default): on
// CPU-emulated GPUs, one rank per MPI process (mpirun -np N loom-train ..., or a Loom --mpi job).
// --device gpu: on CUDA devices, one process per GPU with the torch-style environment Loom gives
// non-MPI jobs, or a single process on one GPU. Rank 0 prints one line per step and a summary of
// medians; run by Loom, it also reports every step to loomd, which turns them into the job's and
// the cluster's efficiency figures (loom show, loom stats).
#include <cstdio>
#include <memory>

#include "kernels/train/train_cli.h"
#include "kernels/train/train_runs.h"
#ifdef LOOM_HAVE_STEP_REPORTER
#include "worker/step_reporter.h"
#endif

namespace loom::train::cli {

#ifdef LOOM_HAVE_STEP_REPORTER
namespace {
class ReporterSink final : public StepSink {
 public:
  explicit ReporterSink(std::unique_ptr<worker::StepReporter> r) : reporter_(std::move(r)) {}
  void Record(const StepReport& r, double model_flops_per_step) override {
    v1::StepSample sample;
    sample.set_step_s(r.step_ms / 1e3);
    sample.set_compute_s(r.compute_ms / 1e3);
    sample.set_exposed_comm_s(r.exposed_comm_ms / 1e3);
    sample.set_model_flops(model_flops_per_step);
    sample.set_busbw_gbps(r.busbw_gbps);
    reporter_->Record(sample);
  }

 private:
  std::unique_ptr<worker::StepReporter> reporter_;
};
}  // namespace

StatusOr<std::unique_ptr<StepSink>> MakeStepSink() {
  LOOM_ASSIGN_OR_RETURN(auto reporter, worker::StepReporter::FromEnvironment());
  if (reporter == nullptr) return std::unique_ptr<StepSink>();
  return std::unique_ptr<StepSink>(new ReporterSink(std::move(reporter)));
}
#else
// Built without the control plane (the kernels-only GPU machine): there is no loomd to report to.
StatusOr<std::unique_ptr<StepSink>> MakeStepSink() { return std::unique_ptr<StepSink>(); }
#endif

#ifndef LOOM_TRAIN_HAVE_MPI
int RunCpu(int, char**, const Flags&) {
  return Fail(RankFromEnvironment(), "--device cpu needs MPI, and this build has none "
                                     "(LOOM_WITH_MPI=OFF); use --device gpu");
}
#endif
#ifndef LOOM_TRAIN_HAVE_CUDA
int RunGpu(const Flags&) {
  return Fail(RankFromEnvironment(), "--device gpu needs CUDA, and this build has none");
}
#endif

}  // namespace loom::train::cli

int main(int argc, char** argv) {
  using namespace loom::train::cli;
  const int rank = RankFromEnvironment();
  auto flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    if (rank == 0) std::fputs(kUsage, stderr);
    return flags.status().message().empty() ? 1 : Fail(rank, flags.status().message());
  }
  return flags->gpu ? RunGpu(*flags) : RunCpu(argc, argv, *flags);
}
