// LOOM_CUDA_CHECK / LOOM_NCCL_CHECK: NCCL's CUDACHECK / NCCLCHECK, returning a Status instead of
// aborting.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "kernels/comm/check.h"

// Returns from the enclosing function when `call`'s result is not `ok`, naming the call and
// `describe`'s text for the result.
#define LOOM_LIBRARY_CHECK(result_type, call, ok, describe)                               \
  do {                                                                                    \
    const result_type loom_lib_rc_ = (call);                                              \
    if (loom_lib_rc_ != (ok))                                                             \
      return ::loom::comm::internal::ErrorAt(::loom::StatusCode::kUnavailable, __FILE__, \
                                             __LINE__,                                    \
                                             std::string(#call) + ": " +                  \
                                                 describe(loom_lib_rc_));                 \
  } while (0)

#define LOOM_CUDA_CHECK(call) LOOM_LIBRARY_CHECK(cudaError_t, call, cudaSuccess, cudaGetErrorString)
#define LOOM_NCCL_CHECK(call) \
  LOOM_LIBRARY_CHECK(ncclResult_t, call, ncclSuccess, ncclGetErrorString)
