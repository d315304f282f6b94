// Every buffer the GPU trainer holds, as byte offsets into one device allocation, and the check
// that it fits. Pure: the trainer allocates plan.total_bytes once and carves it by these offsets,
// so the check at start is exactly what is allocated (docs/GPU.md).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "kernels/train/model_shape.h"

namespace loom::train {

// What one layer keeps from forward for backward (bf16 unless noted).
struct LayerRegions {
  int64_t input, q, k, v, probs, context, h1, up /* fp32, pre-GELU */, gelu;
};

struct DeviceMemoryPlan {
  static constexpr int64_t kAlign = 256;  // cudaMalloc's own alignment: TMA and vector loads need 16
  int64_t params = 0;                     // elements of the flat parameter buffers
  // Model state: bf16 weights, fp32 master weights, fp32 gradients, Adam's two fp32 moments
  // (absent, -1, for SGD).
  int64_t weights = 0, master = 0, grads = 0, adam_m = -1, adam_v = -1;
  std::vector<LayerRegions> layers;
  // Per-step scratch shared by all layers.
  int64_t tokens = 0, targets = 0, all_tokens = 0, all_grads = 0;  // int32, int32, int32, fp32
  int64_t final_input = 0, qkv_tok = 0, d_tok = 0, d_heads = 0, ctx_heads = 0;
  int64_t d_q = 0, d_k = 0, d_v = 0, d_scores = 0, d_logits = 0, d_up = 0;  // bf16
  int64_t scores = 0, resid = 0, d_resid = 0, logits = 0, d_up_f32 = 0;     // fp32
  int64_t state_bytes = 0, activation_bytes = 0, scratch_bytes = 0, total_bytes = 0;
};

// `world` sizes the all-gather of the embedding lookup's gradient; `adam` the moments.
DeviceMemoryPlan PlanDeviceMemory(const ModelShape& shape, int world, bool adam);

// What the CUDA context, cuBLASLt's workspaces and NCCL's buffers take beside the plan.
constexpr int64_t kDeviceReserveBytes = int64_t{3} << 30;

// OK when the plan plus kDeviceReserveBytes fits in `free_bytes`; else RESOURCE_EXHAUSTED saying
// how much is needed and how many layers of this shape would fit.
Status CheckFitsOnDevice(const ModelShape& shape, int world, bool adam, int64_t free_bytes);

// The most layers of `shape`'s width that fit in `free_bytes` (0 if not even one does).
int64_t LayersThatFit(const ModelShape& shape, int world, bool adam, int64_t free_bytes);

}  // namespace loom::train
