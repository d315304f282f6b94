#include "worker/gpu.h"

#include <gtest/gtest.h>

#include "common/gpu_models.h"

namespace loom::worker {
namespace {

TEST(EmulatedGpusTest, CarryTheModelsFiguresAndRefuseBadInput) {
  auto gpus = EmulatedGpus(3, "A100-SXM-40GB");
  ASSERT_TRUE(gpus.ok());
  ASSERT_EQ(gpus->size(), 3u);
  EXPECT_EQ((*gpus)[2].index(), 2);
  EXPECT_TRUE((*gpus)[0].emulated());
  EXPECT_EQ((*gpus)[0].memory_bytes(), 40LL << 30);
  EXPECT_EQ(EmulatedGpus(2, "B300").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EmulatedGpus(0, "H100-SXM-80GB").status().code(), StatusCode::kInvalidArgument);
}

TEST(GpuCatalogTest, MapsCudaDeviceNamesOntoModels) {
  EXPECT_EQ(GpuModelForDevice("NVIDIA H100 80GB HBM3")->name, "H100-SXM-80GB");
  EXPECT_EQ(GpuModelForDevice("NVIDIA H100 PCIe")->name, "H100-PCIE-80GB");
  EXPECT_EQ(GpuModelForDevice("NVIDIA H200")->name, "H200-SXM-141GB");
  EXPECT_EQ(GpuModelForDevice("NVIDIA A100-SXM4-40GB")->name, "A100-SXM-40GB");
  EXPECT_EQ(GpuModelForDevice("NVIDIA GeForce RTX 4090"), nullptr);
}

// Real GPUs only: discovery gives each a catalog peak and NVML answers for every one.
TEST(CudaGpusTest, DiscoveredGpusHavePeaksAndNvmlBusyFractions) {
  auto gpus = DiscoverCudaGpus();
  ASSERT_TRUE(gpus.ok()) << gpus.status().ToString();
  if (gpus->empty()) GTEST_SKIP() << "no CUDA device: the CUDA driver is missing or sees no GPU";
  for (const v1::Gpu& g : *gpus) {
    if (GpuModelForDevice(g.model())) EXPECT_GT(g.peak_tflops(), 0) << g.model();
  }
  auto nvml = NvmlSampler::Load();
  ASSERT_NE(nvml, nullptr) << "a CUDA driver without libnvidia-ml.so.1";
  auto busy = nvml->Busy(static_cast<int>(gpus->size()));
  ASSERT_TRUE(busy.has_value());
  for (double b : *busy) {
    EXPECT_GE(b, 0.0);
    EXPECT_LE(b, 1.0);
  }
}

}  // namespace
}  // namespace loom::worker
