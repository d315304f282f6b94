// GPU discovery: real devices through the CUDA driver API when a driver is present, or N
// CPU-emulated GPUs of a declared model (what CI and laptops use).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "loom/v1/loom.pb.h"
#include "worker/health.h"

namespace loom::worker {

// The GPUs the CUDA driver reports. The driver is loaded at run time (dlopen), so the worker runs
// on machines without one; there this returns an empty list.
StatusOr<std::vector<v1::Gpu>> DiscoverCudaGpus();

// Busy fraction of real GPUs, from NVML (libnvidia-ml, loaded at run time): the share of the last
// sample period in which a kernel ran. NVML numbers devices by PCI bus, so the worker sets
// CUDA_DEVICE_ORDER=PCI_BUS_ID before discovery to make CUDA's indices the same.
class NvmlSampler {
 public:
  // nullptr where NVML is missing or cannot initialise (no driver, emulated GPUs).
  static std::unique_ptr<NvmlSampler> Load();
  ~NvmlSampler();
  // One value per GPU 0..count-1; nullopt if NVML fails to answer for any of them.
  std::optional<std::vector<double>> Busy(int count);
  // Failing when a GPU is lost or has uncorrectable ECC errors (NvmlHealth over this library).
  v1::NodeHealth Health(int count);

 private:
  NvmlSampler() = default;
  struct Api;
  void* lib_ = nullptr;
  std::unique_ptr<Api> api_;
};

// `count` emulated GPUs of `model` (e.g. "H100-SXM-80GB"). INVALID_ARGUMENT for unknown models.
StatusOr<std::vector<v1::Gpu>> EmulatedGpus(int count, const std::string& model);

}  // namespace loom::worker
