// Loom's Hopper GEMM (sm_90a): TMA bulk tensor copies into 128-byte-swizzled shared memory, wgmma
// with fp32 accumulators in registers, warp specialization and a persistent tile scheduler.
//
// One CTA = 3 warpgroups on one SM (__launch_bounds__(384, 1)):
//   warpgroup 0      producer: one thread issues TMA loads into a kStages-deep ring of shared-
//                    memory stages; it gives most of its registers away (setmaxnreg.dec).
//   warpgroups 1, 2  consumers: each multiplies 64 rows of the 128 x 256 output tile with
//                    wgmma.m64n256k16 (128 fp32 accumulators per thread, setmaxnreg.inc), then
//                    writes D = alpha * acc + beta * C straight from registers.
// Stage hand-off uses two mbarriers per stage: `full` (count 1) completes when the producer has
// armed it with the stage's byte count and the copy engine has delivered those bytes; `empty`
// (count kConsumers) completes when both consumer warpgroups have finished reading the stage.
// Every CTA walks the same sequence of tiles (blockIdx.x, += gridDim.x), so producer and consumers
// agree on it without talking, and the producer runs ahead into the next tile while consumers
// finish the epilogue of the current one.
//
// Layouts. Row-major op(A) = M x K and op(B) = K x N. wgmma reads A as M x K and B as N x K from
// shared memory, each either K-major (K contiguous) or MN-major (imm-trans = 1):
//   A, op N: stored M x K, K-major.  One TMA box {64 (K), 128 (M)}.
//   A, op T: stored K x M, M-major.  Two TMA boxes {64 (M), 64 (K)}, one per consumer.
//   B, op T: stored N x K, K-major.  One TMA box {64 (K), 256 (N)}.
//   B, op N: stored K x N, N-major.  Four TMA boxes {64 (N), 64 (K)}.
// With a 128-byte swizzle a box row is exactly 128 bytes (64 bf16), the swizzle atom is 8 rows
// (1024 bytes), and the wgmma shared-memory descriptors are (PTX ISA, "Matrix Descriptor Format"):
//   K-major:  SBO = 1024 (next 8 MN rows); LBO unused; the k-th 16-wide K step starts 32*k bytes
//             further into each 128-byte row.
//   MN-major: SBO = 1024 (next 8 K rows); LBO = 8192 (next 64-wide MN box); the k-th K step
//             starts 16 rows = 2048*k bytes further.
// Edges: TMA fills out-of-bounds box elements with zeros, so M, N and the K tail need no special
// case in the main loop; the epilogue checks bounds. Batches use a 3-D tensor map.
#include <cuda.h>  // CUtensorMap and its enums only: the driver entry point is fetched at run time
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/cuda_check.h"
#include "kernels/gemm/epilogue.cuh"
#include "kernels/gemm/gpu_kernels.h"

namespace loom::gemm::internal {
namespace {

constexpr int kBM = 128, kBN = 256, kBK = 64;
constexpr int kConsumers = 2;                  // consumer warpgroups, 64 rows of the tile each
constexpr int kThreads = 128 * (1 + kConsumers);
constexpr int kStages = 4;
constexpr int kBoxElems = 64;                  // 128 bytes of bf16: the 128B-swizzle row
constexpr int kBoxBytes = kBoxElems * kBK * 2; // one 64 x 64 box: 8 KiB
constexpr int kATileBytes = kBM * kBK * 2;     // 16 KiB
constexpr int kBTileBytes = kBN * kBK * 2;     // 32 KiB
constexpr int kStageBytes = kATileBytes + kBTileBytes;
constexpr int kSmemBytes = kStages * kStageBytes + 2 * kStages * 8 + 1024;  // + barriers + align
constexpr int kGroupM = 8;                     // tiles of M visited together, for L2 reuse of B
constexpr int kProducerRegs = 40, kConsumerRegs = 232;  // 128*40 + 256*232 <= 64K registers
static_assert(kConsumers * 64 == kBM, "each consumer warpgroup owns one m64 slice");

struct HopperArgs {
  int m, n, k;
  int tiles_m, tiles_n;
  int num_tiles;             // tiles_m * tiles_n * batch
  int a_batch_step, b_batch_step;  // 1, or 0 when the operand is broadcast over the batch
  EpilogueArgs epi;
};

// ---- PTX wrappers (sm_90a) -------------------------------------------------------------------
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define LOOM_HOPPER_DEVICE_CODE 1

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void BarrierInit(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

__device__ __forceinline__ void BarrierExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void BarrierArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Spins until the barrier phase with the given parity has completed.
__device__ __forceinline__ void BarrierWait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

// Copies one box of a 3-D tensor map to shared memory; completion is counted on `bar`.
__device__ __forceinline__ void TmaLoad3d(uint32_t dst, const CUtensorMap* map, uint32_t bar,
                                          int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4, %5}], [%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}

__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaWaitAll() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}

// Keeps the compiler from moving accumulator reads or writes across wgmma instructions, which
// update the registers asynchronously (CUTLASS's warpgroup_fence_operand).
__device__ __forceinline__ void FenceAccumulators(float (&d)[128]) {
#pragma unroll
  for (int i = 0; i < 128; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

template <int kRegs>
__device__ __forceinline__ void SetMaxRegsDec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void SetMaxRegsInc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}

// wgmma shared-memory matrix descriptor with 128-byte swizzle (layout type 1 in bits 62-63).
__device__ __forceinline__ uint64_t SmemDesc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t(lbo >> 4) << 16) |
         (uint64_t(sbo >> 4) << 32) | (uint64_t(1) << 62);
}

// Descriptor of the ks-th 16-deep K step of an operand tile at `tile` (see the file comment).
template <bool kMnMajor>
__device__ __forceinline__ uint64_t OperandDesc(uint32_t tile, int ks) {
  return kMnMajor ? SmemDesc(tile + ks * 16 * 128, kBoxBytes, 1024)
                  : SmemDesc(tile + ks * 32, 16, 1024);
}

// D (64 x 256, fp32, in registers) += A (64 x 16, smem) * B (16 x 256, smem). kTransA / kTransB
// select M-major / N-major shared-memory layouts (wgmma's imm-trans-a / imm-trans-b).
template <int kTransA, int kTransB>
__device__ __forceinline__ void WgmmaM64N256K16(float (&d)[128], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
      "}, %128, %129, p, 1, 1, %131, %132;\n"
      "}\n"
      :
        "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
        "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
        "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
        "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
        "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
        "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
        "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
        "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(desc_a), "l"(desc_b), "r"(1), "n"(kTransA), "n"(kTransB));
}

// Loads one operand's kExtent x kBK slice for K tile k0 into shared memory at `dst`.
template <bool kMnMajor, int kExtent>
__device__ __forceinline__ void LoadOperand(const CUtensorMap* map, uint32_t dst, uint32_t bar,
                                            int mn0, int k0, int batch) {
  if constexpr (kMnMajor) {
#pragma unroll
    for (int i = 0; i < kExtent / kBoxElems; ++i) {
      TmaLoad3d(dst + i * kBoxBytes, map, bar, mn0 + i * kBoxElems, k0, batch);
    }
  } else {
    TmaLoad3d(dst, map, bar, k0, mn0, batch);
  }
}
#endif  // sm_90a

struct TileCoord {
  int batch, m0, n0;
};

// Tile t of the persistent schedule: batch-major, and within a batch entry kGroupM rows of tiles
// are swept column by column so that consecutive CTAs share B tiles in L2.
__device__ __forceinline__ TileCoord TileAt(const HopperArgs& args, int t) {
  const int per_batch = args.tiles_m * args.tiles_n;
  const int batch = t / per_batch, r = t % per_batch;
  const int group_size = kGroupM * args.tiles_n;
  const int first_m = (r / group_size) * kGroupM;
  const int rows = min(args.tiles_m - first_m, kGroupM);
  const int in_group = r % group_size;
  return {batch, (first_m + in_group % rows) * kBM, (in_group / rows) * kBN};
}

// Stage ring position, shared by producer and consumers: advancing past the last stage flips
// the parity that barrier waits expect.
struct Ring {
  int stage = 0;
  uint32_t phase = 0;
  __device__ void Advance() {
    if (++stage == kStages) {
      stage = 0;
      phase ^= 1;
    }
  }
};

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads, 1)
    HopperGemmKernel(const __grid_constant__ CUtensorMap map_a,
                     const __grid_constant__ CUtensorMap map_b, const HopperArgs args) {
#ifdef LOOM_HOPPER_DEVICE_CODE
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // 128-byte swizzle patterns repeat every 1024 bytes; descriptors assume 1024-aligned tiles.
  const uint32_t smem = (SmemAddr(smem_raw) + 1023) & ~1023u;
  const uint32_t a_tiles = smem;
  const uint32_t b_tiles = smem + kStages * kATileBytes;
  const uint32_t full_bars = b_tiles + kStages * kBTileBytes;
  const uint32_t empty_bars = full_bars + kStages * 8;
  const int k_tiles = (args.k + kBK - 1) / kBK;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      BarrierInit(full_bars + 8 * s, 1);
      BarrierInit(empty_bars + 8 * s, kConsumers);
    }
    // Make the initialized barriers visible to the copy engine (async proxy) as well.
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  const int warpgroup = threadIdx.x / 128;
  if (warpgroup == 0) {
    SetMaxRegsDec<kProducerRegs>();
    if (threadIdx.x == 0) {
      Ring ring;
      for (int t = blockIdx.x; t < args.num_tiles; t += gridDim.x) {
        const TileCoord tile = TileAt(args, t);
        for (int kt = 0; kt < k_tiles; ++kt, ring.Advance()) {
          // A fresh barrier counts as having completed the phase before phase 0, so the first
          // pass over the ring does not wait (parity ^ 1).
          BarrierWait(empty_bars + 8 * ring.stage, ring.phase ^ 1);
          const uint32_t full = full_bars + 8 * ring.stage;
          BarrierExpectTx(full, kStageBytes);  // zero-filled out-of-bounds bytes count too
          LoadOperand<kTransA, kBM>(&map_a, a_tiles + ring.stage * kATileBytes, full, tile.m0,
                                    kt * kBK, tile.batch * args.a_batch_step);
          LoadOperand<!kTransB, kBN>(&map_b, b_tiles + ring.stage * kBTileBytes, full, tile.n0,
                                     kt * kBK, tile.batch * args.b_batch_step);
        }
      }
    }
  } else {
    SetMaxRegsInc<kConsumerRegs>();
    const int consumer = warpgroup - 1;
    const int lane = threadIdx.x % 32, warp_in_group = (threadIdx.x / 32) % 4;
    Ring ring;
    float acc[128];
    for (int t = blockIdx.x; t < args.num_tiles; t += gridDim.x) {
      const TileCoord tile = TileAt(args, t);
#pragma unroll
      for (int i = 0; i < 128; ++i) acc[i] = 0.0f;
      FenceAccumulators(acc);
      for (int kt = 0; kt < k_tiles; ++kt, ring.Advance()) {
        BarrierWait(full_bars + 8 * ring.stage, ring.phase);
        // This consumer's 64 rows: 64 K-major rows or the second 64-wide M box, 8 KiB either way.
        const uint32_t a_tile = a_tiles + ring.stage * kATileBytes + consumer * 64 * 128;
        const uint32_t b_tile = b_tiles + ring.stage * kBTileBytes;
        WgmmaFence();
#pragma unroll
        for (int ks = 0; ks < kBK / 16; ++ks) {
          WgmmaM64N256K16<kTransA, !kTransB>(acc, OperandDesc<kTransA>(a_tile, ks),
                                             OperandDesc<!kTransB>(b_tile, ks));
        }
        WgmmaCommit();
        WgmmaWaitAll();
        FenceAccumulators(acc);
        if (threadIdx.x % 128 == 0) BarrierArrive(empty_bars + 8 * ring.stage);
      }
      // wgmma's m64nN accumulator layout: thread (warp w, lane l) holds rows 16w + l/4 and
      // 16w + l/4 + 8, columns 8j + 2(l%4) and the next, in registers 4j .. 4j + 3.
      const int row = tile.m0 + consumer * 64 + warp_in_group * 16 + lane / 4;
#pragma unroll
      for (int j = 0; j < kBN / 8; ++j) {
        const int col = tile.n0 + 8 * j + 2 * (lane % 4);
        args.epi.Store2(tile.batch, row, col, acc[4 * j], acc[4 * j + 1]);
        args.epi.Store2(tile.batch, row + 8, col, acc[4 * j + 2], acc[4 * j + 3]);
      }
    }
  }
#endif  // LOOM_HOPPER_DEVICE_CODE
}

// ---- Host side --------------------------------------------------------------------------------

// cuTensorMapEncodeTiled is a driver API function; fetching it through the runtime keeps -lcuda
// off the link line (the driver library is only present where a GPU is).
StatusOr<PFN_cuTensorMapEncodeTiled_v12000> TensorMapEncoder() {
  static std::once_flag once;
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  static cudaError_t err = cudaSuccess;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    err = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault,
                                           &found);
    if (err == cudaSuccess && found == cudaDriverEntryPointSuccess) {
      fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
    }
  });
  if (fn == nullptr) {
    return Unavailable(std::string("gemm(loom): cuTensorMapEncodeTiled not available: ") +
                       cudaGetErrorString(err));
  }
  return fn;
}

// A 3-D tensor map over a row-major bf16 operand stored rows x cols (leading dimension ld),
// batch entries `batch_stride` apart; boxes of {64, box_rows} with a 128-byte swizzle.
StatusOr<CUtensorMap> OperandMap(const void* ptr, int64_t rows, int64_t cols, int64_t ld,
                                 int64_t batch, int64_t batch_stride, uint32_t box_rows) {
  LOOM_ASSIGN_OR_RETURN(auto encode, TensorMapEncoder());
  const bool broadcast = batch == 1 || batch_stride == 0;
  const cuuint64_t dims[3] = {cuuint64_t(cols), cuuint64_t(rows),
                              cuuint64_t(broadcast ? 1 : batch)};
  // Byte strides of dimensions 1 and 2; a broadcast batch dimension has extent 1, so any legal
  // (16-byte multiple) stride will do.
  const cuuint64_t strides[2] = {cuuint64_t(ld) * 2,
                                 cuuint64_t(broadcast ? rows * ld : batch_stride) * 2};
  const cuuint32_t box[3] = {kBoxElems, box_rows, 1};
  const cuuint32_t elem_strides[3] = {1, 1, 1};
  CUtensorMap map;
  const CUresult r = encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void*>(ptr), dims,
                            strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);  // NONE fills with zeros
  if (r != CUDA_SUCCESS) {
    // The copy engine cannot describe this operand; the portable kernel can still run it.
    return FailedPrecondition("gemm(loom): cuTensorMapEncodeTiled failed with CUresult " +
                    std::to_string(int(r)) + " for a " + std::to_string(rows) + "x" +
                    std::to_string(cols) + " operand (ld " + std::to_string(ld) + ")");
  }
  return map;
}

using KernelFn = void (*)(const CUtensorMap, const CUtensorMap, const HopperArgs);

KernelFn SelectKernel(Op op_a, Op op_b) {
  const bool ta = op_a == Op::kT, tb = op_b == Op::kT;
  if (!ta && !tb) return HopperGemmKernel<false, false>;
  if (!ta && tb) return HopperGemmKernel<false, true>;
  if (ta && !tb) return HopperGemmKernel<true, false>;
  return HopperGemmKernel<true, true>;
}

StatusOr<int> MultiprocessorCount() {
  int device = 0, sms = 0;
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  LOOM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

}  // namespace

bool HopperOperandsEligible(const GemmDesc& g, const void* a, const void* b) {
  auto aligned16 = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const int64_t int_max = INT32_MAX - kBN;
  return g.k > 0 && g.m <= int_max && g.n <= int_max && g.k <= int_max && aligned16(a) &&
         aligned16(b) && g.lda % 8 == 0 && g.ldb % 8 == 0 && g.stride_a % 8 == 0 &&
         g.stride_b % 8 == 0 && g.batch * ((g.m + kBM - 1) / kBM) * ((g.n + kBN - 1) / kBN) <= int_max;
}

Status LaunchHopperGemm(const GemmDesc& g, const void* a, const void* b, const void* c, void* d,
                        cudaStream_t stream) {
  if (!HopperOperandsEligible(g, a, b)) {
    return FailedPrecondition("gemm(loom): operands not 16-byte aligned for the Hopper kernel");
  }
  const bool ta = g.op_a == Op::kT, tb = g.op_b == Op::kT;
  // A's box covers 128 M rows when K-major, one 64-row box per consumer when M-major; B's covers
  // all 256 N rows when K-major (op T), 64 per box when N-major.
  LOOM_ASSIGN_OR_RETURN(const CUtensorMap map_a,
                        OperandMap(a, StoredRowsA(g), StoredColsA(g), g.lda, g.batch, g.stride_a,
                                   ta ? kBK : kBM));
  LOOM_ASSIGN_OR_RETURN(const CUtensorMap map_b,
                        OperandMap(b, StoredRowsB(g), StoredColsB(g), g.ldb, g.batch, g.stride_b,
                                   tb ? kBN : kBK));
  HopperArgs args;
  args.m = int(g.m);
  args.n = int(g.n);
  args.k = int(g.k);
  args.tiles_m = int((g.m + kBM - 1) / kBM);
  args.tiles_n = int((g.n + kBN - 1) / kBN);
  args.num_tiles = int(args.tiles_m * args.tiles_n * g.batch);
  args.a_batch_step = g.stride_a != 0 ? 1 : 0;
  args.b_batch_step = g.stride_b != 0 ? 1 : 0;
  args.epi = MakeEpilogueArgs(g, c, d);

  LOOM_ASSIGN_OR_RETURN(const int sms, MultiprocessorCount());
  const KernelFn kernel = SelectKernel(g.op_a, g.op_b);
  LOOM_CUDA_RETURN_IF_ERROR(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  const int grid = std::min(sms, args.num_tiles);  // persistent: at most one CTA per SM
  kernel<<<grid, kThreads, kSmemBytes, stream>>>(map_a, map_b, args);
  LOOM_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  return Status::Ok();
}

}  // namespace loom::gemm::internal
