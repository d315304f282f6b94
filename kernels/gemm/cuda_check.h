// Error macros for CUDA and cuBLASLt calls: on failure they return a loom::Status naming the call,
// the file and the line (NCCL's CUDACHECK habit), instead of aborting the worker.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "common/status.h"

namespace loom::gemm::internal {

inline Status CudaError(cudaError_t err, const char* expr, const char* file, int line) {
  return Internal(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                  cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

inline Status CublasError(cublasStatus_t err, const char* expr, const char* file, int line) {
  return Internal(std::string(file) + ":" + std::to_string(line) + ": " + expr + " failed: " +
                  cublasLtGetStatusName(err) + " (" + cublasLtGetStatusString(err) + ")");
}

}  // namespace loom::gemm::internal

#define LOOM_CUDA_RETURN_IF_ERROR(expr)                                                   \
  do {                                                                                    \
    const cudaError_t loom_cuda_err_ = (expr);                                            \
    if (loom_cuda_err_ != cudaSuccess)                                                    \
      return ::loom::gemm::internal::CudaError(loom_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define LOOM_CUBLAS_RETURN_IF_ERROR(expr)                                                     \
  do {                                                                                        \
    const cublasStatus_t loom_cublas_err_ = (expr);                                           \
    if (loom_cublas_err_ != CUBLAS_STATUS_SUCCESS)                                            \
      return ::loom::gemm::internal::CublasError(loom_cublas_err_, #expr, __FILE__, __LINE__); \
  } while (0)
