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

#define LOOM_CUDA_RETURN_IF_ERROR(expr) LOOM_GEMM_CHECK_(expr, cudaSuccess, CudaError)
#define LOOM_CUBLAS_RETURN_IF_ERROR(expr) LOOM_GEMM_CHECK_(expr, CUBLAS_STATUS_SUCCESS, CublasError)

#define LOOM_GEMM_CHECK_(expr, success, to_status)                                        \
  do {                                                                                    \
    const auto loom_gemm_err_ = (expr);                                                   \
    if (loom_gemm_err_ != (success))                                                      \
      return ::loom::gemm::internal::to_status(loom_gemm_err_, #expr, __FILE__, __LINE__); \
  } while (0)
