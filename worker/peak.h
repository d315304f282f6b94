// The peak an emulated GPU's MFU is measured against: this machine's bf16 GEMM rate (OpenBLAS on
// every core, as the ranks will use it), shared by the GPUs the worker emulates.
#pragma once

#include <string>

#include "common/status.h"

namespace loom::worker {

// TFLOP/s per emulated GPU: the calibrated rate divided by `gpus`. Calibrations on one machine
// take turns through an flock on `lock_path`, so workers started together (loom up) do not
// measure each other.
StatusOr<double> EmulatedPeakTflops(int gpus, const std::string& lock_path);

}  // namespace loom::worker
