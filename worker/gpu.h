// GPU discovery: real devices through the CUDA driver API when a driver is present, or N
// CPU-emulated GPUs of a declared model (what CI and laptops use).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"

namespace loom::worker {

// The GPUs the CUDA driver reports. The driver is loaded at run time (dlopen), so the worker runs
// on machines without one; there this returns an empty list.
StatusOr<std::vector<v1::Gpu>> DiscoverCudaGpus();

// `count` emulated GPUs of `model` (e.g. "H100-SXM-80GB"). INVALID_ARGUMENT for unknown models.
StatusOr<std::vector<v1::Gpu>> EmulatedGpus(int count, const std::string& model);

}  // namespace loom::worker
