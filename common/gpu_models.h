// The GPU models Loom knows: what a worker emulates, what MFU is measured against, and what the
// cluster configs describe. Figures are the vendors' dense (not sparse) bf16 tensor-core peaks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loom {

struct GpuModel {
  std::string_view name;
  int64_t memory_bytes;
  double bf16_dense_tflops;  // peak, dense
  double nvlink_gbps;        // per-GPU NVLink bandwidth, GB/s (0: none)
};

inline const std::vector<GpuModel>& GpuModels() {
  static const auto* models = new std::vector<GpuModel>{
      {"H100-SXM-80GB", 80LL << 30, 989.0, 900.0},
      {"H100-PCIE-80GB", 80LL << 30, 756.0, 600.0},
      {"H200-SXM-141GB", 141LL << 30, 989.0, 900.0},
      {"A100-SXM-80GB", 80LL << 30, 312.0, 600.0},
      {"A100-SXM-40GB", 40LL << 30, 312.0, 600.0},
  };
  return *models;
}

// nullptr for an unknown name.
inline const GpuModel* FindGpuModel(std::string_view name) {
  for (const GpuModel& m : GpuModels()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// The catalog entry for a CUDA device name such as "NVIDIA H100 80GB HBM3", or nullptr.
inline const GpuModel* GpuModelForDevice(std::string_view device) {
  auto has = [&](std::string_view part) { return device.find(part) != std::string_view::npos; };
  if (has("H200")) return FindGpuModel("H200-SXM-141GB");
  if (has("H100")) return FindGpuModel(has("PCIe") ? "H100-PCIE-80GB" : "H100-SXM-80GB");
  if (has("A100")) return FindGpuModel(has("40GB") ? "A100-SXM-40GB" : "A100-SXM-80GB");
  return nullptr;
}

inline std::string KnownGpuModelNames() {
  std::string out;
  for (const GpuModel& m : GpuModels()) out += (out.empty() ? "" : ", ") + std::string(m.name);
  return out;
}

}  // namespace loom
