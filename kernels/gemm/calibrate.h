// The peak FLOP/s MFU is measured against where no catalog figure applies: an emulated GPU (or a
// GPU Loom does not know) gets the best rate of a few square bf16 GEMMs through a backend.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "kernels/gemm/gemm.h"

namespace loom::gemm {

// The best of `repeats` GEMMs of side `n` (bf16 in, fp32 out) through `backend`, in FLOP/s.
StatusOr<double> CalibratePeakFlops(Backend backend, int64_t n = 1024, int repeats = 5);

}  // namespace loom::gemm
