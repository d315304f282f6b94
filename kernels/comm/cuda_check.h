// LOOM_CUDA_CHECK / LOOM_NCCL_CHECK: NCCL's CUDACHECK / NCCLCHECK, returning a Status instead of
// aborting.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "kernels/comm/check.h"

#define LOOM_CUDA_CHECK(call)                                                               \
  do {                                                                                      \
    const cudaError_t loom_cuda_err_ = (call);                                              \
    if (loom_cuda_err_ != cudaSuccess)                                                      \
      return ::loom::comm::internal::ErrorAt(::loom::StatusCode::kUnavailable, __FILE__,   \
                                             __LINE__, std::string(#call) + ": " +          \
                                                           cudaGetErrorString(loom_cuda_err_)); \
  } while (0)

#define LOOM_NCCL_CHECK(call)                                                               \
  do {                                                                                      \
    const ncclResult_t loom_nccl_res_ = (call);                                             \
    if (loom_nccl_res_ != ncclSuccess)                                                      \
      return ::loom::comm::internal::ErrorAt(::loom::StatusCode::kUnavailable, __FILE__,   \
                                             __LINE__, std::string(#call) + ": " +          \
                                                           ncclGetErrorString(loom_nccl_res_)); \
  } while (0)
