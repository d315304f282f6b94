// The training step's element-wise and row-wise CUDA kernels (train_kernels.cu): everything of a
// step that is not a GEMM. Each mirrors the CPU function of the same name in train_step.cc, so a
// GPU step computes what a CPU step does (gpu_trainer_test checks it). All enqueue on `stream`
// and return the launch's error; bf16 buffers are __nv_bfloat16, passed as void*.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace loom::train::cuda {

// resid[i, :] = embedding[tokens[i], :] (fp32 from bf16).
cudaError_t EmbeddingForward(const int32_t* tokens, const void* embedding, int64_t t, int64_t h,
                             float* resid, cudaStream_t stream);
// master[i] = InitialWeight(seed, i) (init_hash.h) for i < n.
cudaError_t InitWeights(uint64_t seed, int64_t n, float* master, cudaStream_t stream);
cudaError_t ToBf16(const float* src, int64_t n, void* dst, cudaStream_t stream);
// Token-major [b, T, heads, d] (row stride ld, from column col0) <-> head-major [b, heads, T, d].
cudaError_t ToHeads(const void* src, int64_t ld, int64_t col0, int64_t b, int64_t T,
                    int64_t heads, int64_t d, void* dst, cudaStream_t stream);
cudaError_t FromHeads(const void* src, int64_t ld, int64_t col0, int64_t b, int64_t T,
                      int64_t heads, int64_t d, void* dst, cudaStream_t stream);
// Causal softmax of each row of `rows` × T fp32 scores (row r is query position r mod T).
cudaError_t CausalSoftmaxForward(const float* scores, int64_t rows, int64_t T, void* probs,
                                 cudaStream_t stream);
// dS = scale · P ∘ (dP − rowsum(dP ∘ P)).
cudaError_t SoftmaxBackward(const void* probs, const float* d_probs, int64_t rows, int64_t T,
                            float scale, void* d_scores, cudaStream_t stream);
cudaError_t GeluForward(const float* u, int64_t n, void* g, cudaStream_t stream);
cudaError_t GeluBackward(const float* u, const float* dg, int64_t n, void* du,
                         cudaStream_t stream);
// d_logits = (softmax(logits) − onehot(targets)) / t, bf16.
cudaError_t CrossEntropyBackward(const float* logits, const int32_t* targets, int64_t t,
                                 int64_t V, void* d_logits, cudaStream_t stream);
// g_embedding[tokens[i], :] += scale · grads[i, :] for i < count (fp32 atomics).
cudaError_t EmbeddingScatterAdd(const int32_t* tokens, const float* grads, int64_t count,
                                int64_t h, float scale, float* g_embedding, cudaStream_t stream);
// Adam (c1, c2: the bias corrections 1 − β^step) or SGD on [0, n), then weights = bf16(master).
cudaError_t AdamUpdate(float* master, const float* grads, float* m, float* v, int64_t n, float lr,
                       float c1, float c2, void* weights, cudaStream_t stream);
cudaError_t SgdUpdate(float* master, const float* grads, int64_t n, float lr, void* weights,
                      cudaStream_t stream);

}  // namespace loom::train::cuda
