// The peak an emulated GPU's MFU is measured against. An emulated GPU is worth an even share of
// this machine's cores among all the emulated GPUs on it (at least one core); its rank's BLAS runs
// on that many threads, and its peak is the bf16 GEMM rate measured on that many threads. A rank
// thus cannot outrun its GPU's peak (MFU stays within 100%), and more busy GPUs than cores
// contend as an oversubscribed node would.
#pragma once

#include <string>

#include "common/status.h"

namespace loom::worker {

// Cores each of `machine_gpus` emulated GPUs stands for on this machine (its CPU affinity).
int EmulatedGpuCores(int machine_gpus);

// TFLOP/s of one emulated GPU worth `cores` cores. Calibrations on one machine take turns through
// an flock on `lock_path`, so workers started together (loom up) do not measure each other.
StatusOr<double> EmulatedPeakTflops(int cores, const std::string& lock_path);

}  // namespace loom::worker
