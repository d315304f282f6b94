#include "worker/gpu.h"

#include <dlfcn.h>

#include "common/gpu_models.h"

namespace loom::worker {
namespace {

// The few driver API entry points discovery needs; their ABI is stable across driver versions.
using CuInit = int (*)(unsigned);
using CuDeviceGetCount = int (*)(int*);
using CuDeviceGet = int (*)(int*, int);
using CuDeviceGetName = int (*)(char*, int, int);
using CuDeviceTotalMem = int (*)(size_t*, int);

// NVML's entry points for utilization; nvmlDevice_t is an opaque pointer.
using NvmlInit = int (*)();
using NvmlShutdown = int (*)();
using NvmlDeviceGetHandleByIndex = int (*)(unsigned, void**);
struct NvmlUtilization {
  unsigned gpu;     // percent of the sample period a kernel ran
  unsigned memory;  // percent of it device memory was read or written
};
using NvmlDeviceGetUtilizationRates = int (*)(void*, NvmlUtilization*);
// (device, nvmlMemoryErrorType_t, nvmlEccCounterType_t, count)
using NvmlDeviceGetTotalEccErrors = int (*)(void*, int, int, unsigned long long*);
constexpr int kNvmlMemoryErrorUncorrected = 1;
constexpr int kNvmlVolatileEcc = 0;  // since the driver loaded

}  // namespace

struct NvmlSampler::Api {
  NvmlShutdown shutdown = nullptr;
  NvmlDeviceGetHandleByIndex handle = nullptr;
  NvmlDeviceGetUtilizationRates utilization = nullptr;
  NvmlDeviceGetTotalEccErrors ecc = nullptr;  // optional: GPUs without ECC lack it
};

std::unique_ptr<NvmlSampler> NvmlSampler::Load() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return nullptr;
  auto init = reinterpret_cast<NvmlInit>(dlsym(lib, "nvmlInit_v2"));
  auto api = std::make_unique<Api>();
  api->shutdown = reinterpret_cast<NvmlShutdown>(dlsym(lib, "nvmlShutdown"));
  api->handle = reinterpret_cast<NvmlDeviceGetHandleByIndex>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
  api->utilization =
      reinterpret_cast<NvmlDeviceGetUtilizationRates>(dlsym(lib, "nvmlDeviceGetUtilizationRates"));
  api->ecc = reinterpret_cast<NvmlDeviceGetTotalEccErrors>(dlsym(lib, "nvmlDeviceGetTotalEccErrors"));
  if (!init || !api->shutdown || !api->handle || !api->utilization || init() != 0) {
    dlclose(lib);
    return nullptr;
  }
  std::unique_ptr<NvmlSampler> sampler(new NvmlSampler());
  sampler->lib_ = lib;
  sampler->api_ = std::move(api);
  return sampler;
}

NvmlSampler::~NvmlSampler() {
  if (!lib_) return;
  api_->shutdown();
  dlclose(lib_);
}

std::optional<std::vector<double>> NvmlSampler::Busy(int count) {
  std::vector<double> busy;
  for (int i = 0; i < count; ++i) {
    void* device = nullptr;
    NvmlUtilization u{};
    if (api_->handle(static_cast<unsigned>(i), &device) != 0 || api_->utilization(device, &u) != 0) {
      return std::nullopt;
    }
    busy.push_back(u.gpu / 100.0);
  }
  return busy;
}

v1::NodeHealth NvmlSampler::Health(int count) {
  NvmlHealthApi api;
  api.handle = [this](unsigned i, void** device) { return api_->handle(i, device); };
  if (api_->ecc) {
    api.uncorrected_ecc = [this](void* device, unsigned long long* n) {
      return api_->ecc(device, kNvmlMemoryErrorUncorrected, kNvmlVolatileEcc, n);
    };
  }
  return NvmlHealth(api, count);
}

StatusOr<std::vector<v1::Gpu>> DiscoverCudaGpus() {
  std::vector<v1::Gpu> gpus;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return gpus;  // no driver: no GPUs
  auto init = reinterpret_cast<CuInit>(dlsym(lib, "cuInit"));
  auto count_fn = reinterpret_cast<CuDeviceGetCount>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<CuDeviceGet>(dlsym(lib, "cuDeviceGet"));
  auto name_fn = reinterpret_cast<CuDeviceGetName>(dlsym(lib, "cuDeviceGetName"));
  auto mem_fn = reinterpret_cast<CuDeviceTotalMem>(dlsym(lib, "cuDeviceTotalMem_v2"));
  if (!init || !count_fn || !get || !name_fn || !mem_fn) {
    return Internal("libcuda.so.1 lacks the device query entry points");
  }
  int count = 0;
  if (init(0) != 0 || count_fn(&count) != 0) return gpus;  // driver present, no usable device
  for (int i = 0; i < count; ++i) {
    int dev = 0;
    char name[256] = {};
    size_t mem = 0;
    if (get(&dev, i) != 0 || name_fn(name, sizeof(name), dev) != 0 || mem_fn(&mem, dev) != 0) {
      return Internal("CUDA device " + std::to_string(i) + " could not be queried");
    }
    v1::Gpu g;
    g.set_index(i);
    g.set_model(name);
    g.set_memory_bytes(static_cast<int64_t>(mem));
    if (const GpuModel* model = GpuModelForDevice(name)) g.set_peak_tflops(model->bf16_dense_tflops);
    gpus.push_back(std::move(g));
  }
  return gpus;
}

StatusOr<std::vector<v1::Gpu>> EmulatedGpus(int count, const std::string& model) {
  const GpuModel* known = FindGpuModel(model);
  if (!known) return InvalidArgument("unknown GPU model '" + model + "' (known: " + KnownGpuModelNames() + ")");
  if (count < 1 || count > 64) {
    return InvalidArgument("--emulate-gpus must be between 1 and 64 (got " + std::to_string(count) + ")");
  }
  std::vector<v1::Gpu> gpus;
  for (int i = 0; i < count; ++i) {
    v1::Gpu g;
    g.set_index(i);
    g.set_model(model);
    g.set_memory_bytes(known->memory_bytes);
    g.set_emulated(true);
    gpus.push_back(std::move(g));
  }
  return gpus;
}

}  // namespace loom::worker
