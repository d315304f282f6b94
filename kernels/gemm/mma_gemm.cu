// Portable GEMM for sm_80 and later: mma.sync.m16n8k16 bf16 with fp32 accumulators.
//
// It is the kernel for every GPU that is not Hopper and for operands the Hopper kernel's copy
// engine cannot read (rows not 16-byte aligned), so it accepts any M, N, K, transpose, leading
// dimension and alignment. That generality decides its shape:
//  - Global loads are element-wise and predicated (out-of-range elements read as zero), mapped so
//    that consecutive threads read consecutive addresses whichever dimension is contiguous.
//    cp.async would need 4- to 16-byte aligned sources, which odd leading dimensions do not give.
//  - Tiles are staged in shared memory in one canonical K-contiguous layout for A and for B, so
//    the math loop is the same for NN, NT, TN and TT: one kernel instantiation, cheap to compile.
//  - Double buffering: the next K tile is loaded into registers while the current one is
//    multiplied, then stored into the other shared-memory buffer (one barrier per K tile).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/cuda_check.h"
#include "kernels/gemm/epilogue.cuh"
#include "kernels/gemm/gpu_kernels.h"

namespace loom::gemm::internal {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 32;
constexpr int kThreads = 256;                 // 8 warps: 2 along M x 4 along N
constexpr int kWarpM = 64, kWarpN = 32;       // each warp: 4 x 4 mma tiles of 16 x 8
constexpr int kRowPitch = kBK + 8;            // 80-byte rows: fragment reads hit 32 distinct banks
constexpr int kLoadsPerThread = kBM * kBK / kThreads;  // 16 elements of A and 16 of B
static_assert(kBM == kBN, "one loader serves A and B");

// One operand (A or B) as the loader sees it: element (mn, k) of op(X), stored with K or MN
// contiguous.
struct Operand {
  const __nv_bfloat16* ptr;
  int64_t ld;
  int64_t batch_stride;
  int mn_extent;  // M for A, N for B
  bool k_contiguous;
};

struct MmaArgs {
  Operand a, b;
  int k;
  int tiles_m, tiles_n;
  int64_t batch;
  EpilogueArgs epi;
};

using Tile = __nv_bfloat16[kBM][kRowPitch];

// Reads this thread's share of a kBM x kBK tile (rows mn0.., columns k0..) into registers.
__device__ void LoadTile(const Operand& op, int64_t batch, int mn0, int k0, int k_extent,
                         __nv_bfloat16 (&regs)[kLoadsPerThread]) {
  const __nv_bfloat16* base = op.ptr + batch * op.batch_stride;
#pragma unroll
  for (int i = 0; i < kLoadsPerThread; ++i) {
    const int e = threadIdx.x + i * kThreads;
    // Consecutive threads walk the contiguous dimension for coalesced reads.
    const int mn = op.k_contiguous ? e / kBK : e % kBM;
    const int kk = op.k_contiguous ? e % kBK : e / kBM;
    const int gmn = mn0 + mn, gk = k0 + kk;
    const bool in = gmn < op.mn_extent && gk < k_extent;
    const int64_t idx = op.k_contiguous ? int64_t(gmn) * op.ld + gk : int64_t(gk) * op.ld + gmn;
    regs[i] = in ? base[idx] : __float2bfloat16_rn(0.0f);
  }
}

__device__ void StoreTile(const Operand& op, const __nv_bfloat16 (&regs)[kLoadsPerThread],
                          Tile& tile) {
#pragma unroll
  for (int i = 0; i < kLoadsPerThread; ++i) {
    const int e = threadIdx.x + i * kThreads;
    const int mn = op.k_contiguous ? e / kBK : e % kBM;
    const int kk = op.k_contiguous ? e % kBK : e / kBM;
    tile[mn][kk] = regs[i];
  }
}

__device__ uint32_t Pair(const Tile& t, int row, int col) {
  return *reinterpret_cast<const uint32_t*>(&t[row][col]);
}

__device__ void Mma16816(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Multiplies one kBK-deep slice held in shared memory into this warp's accumulators, using the
// fragment layouts of mma.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16"): lane = 4g + t
// holds rows g and g + 8, columns 2t, 2t + 1 (+ 8) of A, and k rows 2t, 2t + 1 (+ 8) of B's column g.
__device__ void MultiplyTile(const Tile& sa, const Tile& sb, int warp_m, int warp_n,
                             float (&acc)[4][4][4]) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
  for (int ks = 0; ks < kBK; ks += 16) {
    uint32_t a[4][4], b[4][2];
#pragma unroll
    for (int mi = 0; mi < 4; ++mi) {
      const int r = warp_m * kWarpM + mi * 16 + g, c = ks + 2 * t;
      a[mi][0] = Pair(sa, r, c);
      a[mi][1] = Pair(sa, r + 8, c);
      a[mi][2] = Pair(sa, r, c + 8);
      a[mi][3] = Pair(sa, r + 8, c + 8);
    }
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int n = warp_n * kWarpN + ni * 8 + g, c = ks + 2 * t;
      b[ni][0] = Pair(sb, n, c);
      b[ni][1] = Pair(sb, n, c + 8);
    }
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) Mma16816(acc[mi][ni], a[mi], b[ni]);
  }
}

__global__ void __launch_bounds__(kThreads) MmaGemmKernel(MmaArgs args) {
  __shared__ __align__(16) Tile sa[2];
  __shared__ __align__(16) Tile sb[2];
  const int warp = threadIdx.x / 32;
  const int warp_m = warp % 2, warp_n = warp / 2;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int k_tiles = (args.k + kBK - 1) / kBK;

  for (int64_t batch = blockIdx.z; batch < args.batch; batch += gridDim.z) {
    float acc[4][4][4] = {};
    __nv_bfloat16 ra[kLoadsPerThread], rb[kLoadsPerThread];
    if (k_tiles > 0) {
      LoadTile(args.a, batch, m0, 0, args.k, ra);
      LoadTile(args.b, batch, n0, 0, args.k, rb);
      StoreTile(args.a, ra, sa[0]);
      StoreTile(args.b, rb, sb[0]);
    }
    __syncthreads();
    for (int kt = 0; kt < k_tiles; ++kt) {
      const int cur = kt % 2;
      const bool has_next = kt + 1 < k_tiles;
      if (has_next) {  // issue the next tile's global loads before the math that hides them
        LoadTile(args.a, batch, m0, (kt + 1) * kBK, args.k, ra);
        LoadTile(args.b, batch, n0, (kt + 1) * kBK, args.k, rb);
      }
      MultiplyTile(sa[cur], sb[cur], warp_m, warp_n, acc);
      if (has_next) {
        StoreTile(args.a, ra, sa[cur ^ 1]);
        StoreTile(args.b, rb, sb[cur ^ 1]);
      }
      __syncthreads();
    }

    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
#pragma unroll
    for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int row = m0 + warp_m * kWarpM + mi * 16 + g;
        const int col = n0 + warp_n * kWarpN + ni * 8 + 2 * t;
        args.epi.Store2(batch, row, col, acc[mi][ni][0], acc[mi][ni][1]);
        args.epi.Store2(batch, row + 8, col, acc[mi][ni][2], acc[mi][ni][3]);
      }
    }
    __syncthreads();  // the next batch entry reuses the shared tiles
  }
}

}  // namespace

Status LaunchMmaGemm(const GemmDesc& g, const void* a, const void* b, const void* c, void* d,
                     cudaStream_t stream) {
  constexpr int64_t kMaxDim = INT32_MAX - kBM;
  if (g.m > kMaxDim || g.n > kMaxDim || g.k > kMaxDim) {
    return InvalidArgument("gemm(loom): M, N and K must be below 2^31");
  }
  MmaArgs args;
  args.a = {static_cast<const __nv_bfloat16*>(a), g.lda, g.stride_a, int(g.m), g.op_a == Op::kN};
  args.b = {static_cast<const __nv_bfloat16*>(b), g.ldb, g.stride_b, int(g.n), g.op_b == Op::kT};
  args.k = int(g.k);
  args.tiles_m = int((g.m + kBM - 1) / kBM);
  args.tiles_n = int((g.n + kBN - 1) / kBN);
  args.batch = g.batch;
  args.epi = MakeEpilogueArgs(g, c, d);
  if (args.tiles_m > 65535) return InvalidArgument("gemm(loom): M above 65535 * 128");
  const dim3 grid(args.tiles_n, args.tiles_m, unsigned(std::min<int64_t>(g.batch, 65535)));
  MmaGemmKernel<<<grid, kThreads, 0, stream>>>(args);
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return Status::Ok();
}

}  // namespace loom::gemm::internal
