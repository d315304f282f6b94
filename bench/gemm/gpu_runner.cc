// GPU sweep: Loom's kernels and cuBLASLt on the same operands in the same run, each timed with
// CUDA events around `iters` back-to-back launches after `warmup` untimed ones.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "bench/gemm/runners.h"
#include "common/progress.h"
#include "kernels/gemm/backends.h"
#include "kernels/gemm/cuda_check.h"

namespace loom::bench::gemm {
namespace {

using loom::gemm::Backend;
using loom::gemm::Bf16;

// Dense bf16 tensor-core peak in TFLOP/s, recognised from the device name; NaN when unknown.
double PeakTflops(const std::string& name) {
  const bool hopper = name.find("H100") != std::string::npos || name.find("H200") != std::string::npos;
  if (!hopper) return NAN;
  if (name.find("PCIe") != std::string::npos) return 756.0;  // H100 PCIe
  return 989.0;                                              // H100 / H200 SXM
}

class DeviceBuffer {
 public:
  ~DeviceBuffer() { cudaFree(ptr_); }
  Status Allocate(size_t bytes) {
    LOOM_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr_, bytes));
    bytes_ = bytes;
    return Status::Ok();
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Events() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

// Average milliseconds per call of `run` (which enqueues one GEMM on `stream`).
template <class Run>
StatusOr<double> TimeRun(const Run& run, int warmup, int iters, cudaStream_t stream) {
  for (int i = 0; i < warmup; ++i) LOOM_RETURN_IF_ERROR(run());
  Events ev;
  LOOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev.start));
  LOOM_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev.stop));
  LOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev.start, stream));
  for (int i = 0; i < iters; ++i) LOOM_RETURN_IF_ERROR(run());
  LOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev.stop, stream));
  LOOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(ev.stop));
  float ms = 0.0f;
  LOOM_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, ev.start, ev.stop));
  return double(ms) / iters;
}

StatusOr<double> TimeBackend(Backend backend, const GemmDesc& g, const DeviceBuffer& a,
                             const DeviceBuffer& b, DeviceBuffer& d, int warmup, int iters,
                             cudaStream_t stream) {
  return TimeRun(
      [&] { return loom::gemm::Gemm(g, a.get(), b.get(), nullptr, d.get(), backend, stream); },
      warmup, iters, stream);
}

// Loom's portable mma.sync kernel alone: what `loom` runs off Hopper, measured on Hopper too so
// one run shows both of our kernels against cuBLASLt.
StatusOr<double> TimePortable(const GemmDesc& desc, const DeviceBuffer& a, const DeviceBuffer& b,
                              DeviceBuffer& d, int warmup, int iters, cudaStream_t stream) {
  LOOM_ASSIGN_OR_RETURN(const GemmDesc g, loom::gemm::Validate(desc, a.get(), b.get(), nullptr, d.get()));
  return TimeRun(
      [&] {
        return loom::gemm::internal::LoomGpuGemm(g, a.get(), b.get(), nullptr, d.get(), stream,
                                                 loom::gemm::internal::LoomKernel::kPortable);
      },
      warmup, iters, stream);
}

StatusOr<std::vector<float>> DownloadOutput(const DeviceBuffer& d, DType type) {
  const size_t elems = d.bytes() / (type == DType::kF32 ? 4 : 2);
  std::vector<float> out(elems);
  if (type == DType::kF32) {
    LOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(out.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost));
  } else {
    std::vector<Bf16> tmp(elems);
    LOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(tmp.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < elems; ++i) out[i] = tmp[i].ToFloat();
  }
  return out;
}

Status Upload(DeviceBuffer& buf, const std::vector<Bf16>& host) {
  LOOM_RETURN_IF_ERROR(buf.Allocate(host.size() * sizeof(Bf16)));
  LOOM_CUDA_RETURN_IF_ERROR(cudaMemcpy(buf.get(), host.data(), buf.bytes(), cudaMemcpyHostToDevice));
  return Status::Ok();
}

}  // namespace

StatusOr<Sweep> RunGpuSweep(const std::vector<Case>& cases, const Options& o) {
  const int iters = o.iters > 0 ? o.iters : 20;
  const int warmup = o.warmup >= 0 ? o.warmup : 5;
  const bool with_loom = o.target != Target::kCublas;
  int device = 0;
  cudaDeviceProp prop{};
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device));
  const std::string name = prop.name;
  const double peak = PeakTflops(name);
  Sweep sweep;
  sweep.banner = "# loom-bench gemm: " + name + " (sm_" + std::to_string(prop.major) +
                 std::to_string(prop.minor) + ", " + std::to_string(prop.multiProcessorCount) +
                 " SMs), dense bf16 peak " +
                 (std::isnan(peak) ? std::string("unknown") : std::to_string(int(peak)) + " TFLOP/s") +
                 "; " + std::to_string(warmup) + " warm-up + " + std::to_string(iters) +
                 " timed iterations, CUDA events";
  cudaStream_t stream = nullptr;
  LOOM_CUDA_RETURN_IF_ERROR(cudaStreamCreate(&stream));
  struct StreamGuard {
    cudaStream_t s;
    ~StreamGuard() { cudaStreamDestroy(s); }
  } guard{stream};

  Progress progress("gemm", static_cast<int>(cases.size()), !o.json);
  for (const Case& c : cases) {
    progress.Next(c.name);
    const GemmDesc& g = c.desc;
    DeviceBuffer a, b, d_loom, d_cublas;
    {
      const HostOperands host = MakeOperands(g);  // freed once uploaded
      LOOM_RETURN_IF_ERROR(Upload(a, host.a));
      LOOM_RETURN_IF_ERROR(Upload(b, host.b));
    }
    const size_t out_bytes = size_t(g.m * g.ldd) * (g.out_type == DType::kF32 ? 4 : 2);
    LOOM_RETURN_IF_ERROR(d_cublas.Allocate(out_bytes));
    LOOM_ASSIGN_OR_RETURN(const double cublas_ms,
                          TimeBackend(Backend::kCublas, g, a, b, d_cublas, warmup, iters, stream));
    double loom_ms = NAN, diff = NAN, portable_ms = NAN, portable_diff = NAN;
    if (with_loom) {
      LOOM_RETURN_IF_ERROR(d_loom.Allocate(out_bytes));
      LOOM_ASSIGN_OR_RETURN(loom_ms, TimeBackend(Backend::kLoom, g, a, b, d_loom, warmup, iters, stream));
      std::vector<float> theirs;
      if (o.check) {
        LOOM_ASSIGN_OR_RETURN(const std::vector<float> ours, DownloadOutput(d_loom, g.out_type));
        LOOM_ASSIGN_OR_RETURN(theirs, DownloadOutput(d_cublas, g.out_type));
        diff = RelativeMaxDiff(ours, theirs);
      }
      if (o.portable) {  // reuses d_loom: its result was checked above
        LOOM_ASSIGN_OR_RETURN(portable_ms, TimePortable(g, a, b, d_loom, warmup, iters, stream));
        if (o.check) {
          LOOM_ASSIGN_OR_RETURN(const std::vector<float> ours, DownloadOutput(d_loom, g.out_type));
          portable_diff = RelativeMaxDiff(ours, theirs);
        }
      }
    }
    const double flops = loom::gemm::GemmFlops(g);
    const double loom_tflops = flops / (loom_ms * 1e-3) / 1e12;
    const double cublas_tflops = flops / (cublas_ms * 1e-3) / 1e12;
    Row row = CaseRow(c);
    row.Num("loom_ms", loom_ms, 3)
        .Num("loom_TFLOPs", loom_tflops, 1)
        .Num("pct_of_peak", loom_tflops / peak * 100.0, 1)
        .Num("cublas_ms", cublas_ms, 3)
        .Num("cublas_TFLOPs", cublas_tflops, 1)
        .Num("cublas_pct_of_peak", cublas_tflops / peak * 100.0, 1)
        .Num("ratio_vs_cublas", loom_tflops / cublas_tflops, 3)
        .Num("maxdiff", diff, 6)
        .Num("portable_ms", portable_ms, 3)
        .Num("portable_TFLOPs", flops / (portable_ms * 1e-3) / 1e12, 1)
        .Num("portable_ratio_vs_cublas", flops / (portable_ms * 1e-3) / 1e12 / cublas_tflops, 3)
        .Num("portable_maxdiff", portable_diff, 6)
        .Str("device", name);
    sweep.rows.push_back(std::move(row));
  }
  return sweep;
}

}  // namespace loom::bench::gemm
