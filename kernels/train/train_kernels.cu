// The training step's non-GEMM kernels. Memory-bound and simple on purpose: grid-stride
// element-wise loops, and one block per row for the softmaxes with warp-shuffle reductions. The
// GEMMs hold the step's FLOPs; these are a few passes over the activations.
#include <cuda_bf16.h>

#include "kernels/train/init_hash.h"
#include "kernels/train/train_kernels.h"

namespace loom::train::cuda {
namespace {

using bf16 = __nv_bfloat16;
constexpr float kGeluC = 0.7978845608f;  // √(2/π), as train_step.cc
constexpr int kThreads = 256;
constexpr int kRowThreads = 512;

unsigned Blocks(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}

#define LOOM_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); i += int64_t{gridDim.x} * blockDim.x)

// Sum or max over the block; every thread gets the result. `scratch` holds one float per warp.
template <bool kMax>
__device__ float BlockReduce(float x, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  __syncthreads();  // scratch may still be read from a previous reduction
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  x = lane < warps ? scratch[lane] : (kMax ? -INFINITY : 0.0f);
  for (int o = 16; o > 0; o >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  return x;
}

// The max of x[0, n) and 1 / Σ exp(x − max), over the block: a softmax's two reductions.
__device__ float2 SoftmaxStats(const float* x, int64_t n, float* scratch) {
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, x[j]);
  mx = BlockReduce<true>(mx, scratch);
  float sum = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) sum += __expf(x[j] - mx);
  sum = BlockReduce<false>(sum, scratch);
  return make_float2(mx, 1.0f / sum);
}

__global__ void EmbeddingForwardKernel(const int32_t* tokens, const bf16* e, int64_t t, int64_t h,
                                       float* resid) {
  LOOM_GRID_STRIDE(i, t * h) resid[i] = __bfloat162float(e[int64_t{tokens[i / h]} * h + i % h]);
}

__global__ void InitWeightsKernel(uint64_t seed, int64_t n, float* master) {
  LOOM_GRID_STRIDE(i, n) master[i] = InitialWeight(seed, i);
}

__global__ void ToBf16Kernel(const float* src, int64_t n, bf16* dst) {
  LOOM_GRID_STRIDE(i, n) dst[i] = __float2bfloat16(src[i]);
}

// i indexes the head-major tensor [b, heads, T, d].
template <bool kToHeads>
__global__ void HeadsKernel(const bf16* src, int64_t ld, int64_t col0, int64_t b, int64_t T,
                            int64_t heads, int64_t d, bf16* dst) {
  LOOM_GRID_STRIDE(i, b * heads * T * d) {
    const int64_t x = i % d, t = (i / d) % T, hd = (i / (d * T)) % heads, bi = i / (d * T * heads);
    const int64_t tok = (bi * T + t) * ld + col0 + hd * d + x;
    if (kToHeads) dst[i] = src[tok];
    else dst[tok] = src[i];
  }
}

__global__ void CausalSoftmaxKernel(const float* scores, int64_t T, bf16* probs) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const float* x = scores + r * T;
  bf16* p = probs + r * T;
  const int64_t visible = r % T + 1;
  const float2 st = SoftmaxStats(x, visible, scratch);
  const float mx = st.x, inv = st.y;
  for (int64_t j = threadIdx.x; j < T; j += blockDim.x)
    p[j] = __float2bfloat16(j < visible ? __expf(x[j] - mx) * inv : 0.0f);
}

__global__ void SoftmaxBackwardKernel(const bf16* probs, const float* d_probs, int64_t T,
                                      float scale, bf16* d_scores) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const bf16* p = probs + r * T;
  const float* dp = d_probs + r * T;
  float dot = 0;
  for (int64_t j = threadIdx.x; j < T; j += blockDim.x) dot += __bfloat162float(p[j]) * dp[j];
  dot = BlockReduce<false>(dot, scratch);
  for (int64_t j = threadIdx.x; j < T; j += blockDim.x)
    d_scores[r * T + j] = __float2bfloat16(scale * __bfloat162float(p[j]) * (dp[j] - dot));
}

__global__ void GeluForwardKernel(const float* u, int64_t n, bf16* g) {
  LOOM_GRID_STRIDE(i, n) {
    const float x = u[i];
    g[i] = __float2bfloat16(0.5f * x * (1.0f + tanhf(kGeluC * (x + 0.044715f * x * x * x))));
  }
}

__global__ void GeluBackwardKernel(const float* u, const float* dg, int64_t n, bf16* du) {
  LOOM_GRID_STRIDE(i, n) {
    const float x = u[i];
    const float th = tanhf(kGeluC * (x + 0.044715f * x * x * x));
    const float dth = (1 - th * th) * kGeluC * (1 + 3 * 0.044715f * x * x);
    du[i] = __float2bfloat16(dg[i] * (0.5f * (1 + th) + 0.5f * x * dth));
  }
}

__global__ void CrossEntropyBackwardKernel(const float* logits, const int32_t* targets, int64_t V,
                                           float inv_tokens, bf16* d_logits) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const float* x = logits + r * V;
  const float2 st = SoftmaxStats(x, V, scratch);
  const float mx = st.x, inv = st.y;
  const int64_t target = targets[r];
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const float p = __expf(x[j] - mx) * inv - (j == target ? 1.0f : 0.0f);
    d_logits[r * V + j] = __float2bfloat16(p * inv_tokens);
  }
}

__global__ void EmbeddingScatterAddKernel(const int32_t* tokens, const float* grads, int64_t count,
                                          int64_t h, float scale, float* g) {
  LOOM_GRID_STRIDE(i, count * h) atomicAdd(&g[int64_t{tokens[i / h]} * h + i % h], scale * grads[i]);
}

__global__ void AdamKernel(float* master, const float* grads, float* m, float* v, int64_t n,
                           float lr, float c1, float c2, bf16* weights) {
  constexpr float kBeta1 = 0.9f, kBeta2 = 0.95f, kEps = 1e-8f;  // as train_step.cc
  LOOM_GRID_STRIDE(i, n) {
    const float g = grads[i];
    const float mi = kBeta1 * m[i] + (1 - kBeta1) * g;
    const float vi = kBeta2 * v[i] + (1 - kBeta2) * g * g;
    m[i] = mi, v[i] = vi;
    const float w = master[i] - lr * (mi / c1) / (sqrtf(vi / c2) + kEps);
    master[i] = w;
    weights[i] = __float2bfloat16(w);
  }
}

__global__ void SgdKernel(float* master, const float* grads, int64_t n, float lr, bf16* weights) {
  LOOM_GRID_STRIDE(i, n) {
    const float w = master[i] - lr * grads[i];
    master[i] = w;
    weights[i] = __float2bfloat16(w);
  }
}

}  // namespace

cudaError_t EmbeddingForward(const int32_t* tokens, const void* embedding, int64_t t, int64_t h,
                             float* resid, cudaStream_t s) {
  EmbeddingForwardKernel<<<Blocks(t * h), kThreads, 0, s>>>(
      tokens, static_cast<const bf16*>(embedding), t, h, resid);
  return cudaGetLastError();
}

cudaError_t InitWeights(uint64_t seed, int64_t n, float* master, cudaStream_t s) {
  InitWeightsKernel<<<Blocks(n), kThreads, 0, s>>>(seed, n, master);
  return cudaGetLastError();
}

cudaError_t ToBf16(const float* src, int64_t n, void* dst, cudaStream_t s) {
  ToBf16Kernel<<<Blocks(n), kThreads, 0, s>>>(src, n, static_cast<bf16*>(dst));
  return cudaGetLastError();
}

cudaError_t ToHeads(const void* src, int64_t ld, int64_t col0, int64_t b, int64_t T,
                    int64_t heads, int64_t d, void* dst, cudaStream_t s) {
  HeadsKernel<true><<<Blocks(b * heads * T * d), kThreads, 0, s>>>(
      static_cast<const bf16*>(src), ld, col0, b, T, heads, d, static_cast<bf16*>(dst));
  return cudaGetLastError();
}

cudaError_t FromHeads(const void* src, int64_t ld, int64_t col0, int64_t b, int64_t T,
                      int64_t heads, int64_t d, void* dst, cudaStream_t s) {
  HeadsKernel<false><<<Blocks(b * heads * T * d), kThreads, 0, s>>>(
      static_cast<const bf16*>(src), ld, col0, b, T, heads, d, static_cast<bf16*>(dst));
  return cudaGetLastError();
}

cudaError_t CausalSoftmaxForward(const float* scores, int64_t rows, int64_t T, void* probs,
                                 cudaStream_t s) {
  CausalSoftmaxKernel<<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
      scores, T, static_cast<bf16*>(probs));
  return cudaGetLastError();
}

cudaError_t SoftmaxBackward(const void* probs, const float* d_probs, int64_t rows, int64_t T,
                            float scale, void* d_scores, cudaStream_t s) {
  SoftmaxBackwardKernel<<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
      static_cast<const bf16*>(probs), d_probs, T, scale, static_cast<bf16*>(d_scores));
  return cudaGetLastError();
}

cudaError_t GeluForward(const float* u, int64_t n, void* g, cudaStream_t s) {
  GeluForwardKernel<<<Blocks(n), kThreads, 0, s>>>(u, n, static_cast<bf16*>(g));
  return cudaGetLastError();
}

cudaError_t GeluBackward(const float* u, const float* dg, int64_t n, void* du, cudaStream_t s) {
  GeluBackwardKernel<<<Blocks(n), kThreads, 0, s>>>(u, dg, n, static_cast<bf16*>(du));
  return cudaGetLastError();
}

cudaError_t CrossEntropyBackward(const float* logits, const int32_t* targets, int64_t t,
                                 int64_t V, void* d_logits, cudaStream_t s) {
  CrossEntropyBackwardKernel<<<static_cast<unsigned>(t), kRowThreads, 0, s>>>(
      logits, targets, V, 1.0f / static_cast<float>(t), static_cast<bf16*>(d_logits));
  return cudaGetLastError();
}

cudaError_t EmbeddingScatterAdd(const int32_t* tokens, const float* grads, int64_t count,
                                int64_t h, float scale, float* g_embedding, cudaStream_t s) {
  EmbeddingScatterAddKernel<<<Blocks(count * h), kThreads, 0, s>>>(tokens, grads, count, h, scale,
                                                                  g_embedding);
  return cudaGetLastError();
}

cudaError_t AdamUpdate(float* master, const float* grads, float* m, float* v, int64_t n, float lr,
                       float c1, float c2, void* weights, cudaStream_t s) {
  AdamKernel<<<Blocks(n), kThreads, 0, s>>>(master, grads, m, v, n, lr, c1, c2,
                                            static_cast<bf16*>(weights));
  return cudaGetLastError();
}

cudaError_t SgdUpdate(float* master, const float* grads, int64_t n, float lr, void* weights,
                      cudaStream_t s) {
  SgdKernel<<<Blocks(n), kThreads, 0, s>>>(master, grads, n, lr, static_cast<bf16*>(weights));
  return cudaGetLastError();
}

}  // namespace loom::train::cuda
