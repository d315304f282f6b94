// The one body of every reduction kernel, instantiated once per ISA by reduce_kernels_scalar.cc,
// reduce_kernels_avx2.cc and reduce_kernels_avx512.cc (each compiled with its own -m flags).
//
// An ISA is a traits struct: kWidth lanes; Load() widens a T* to the compute vector (float lanes
// for fp32/fp16/bf16, int32 lanes for int32); Store() narrows back; Add/Max/Min/Div per vector type.
// Everything is in an anonymous namespace so that no symbol compiled for AVX-512 can be chosen by
// the linker for a caller on a CPU without it (see half_convert.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/comm/half_convert.h"
#include "kernels/comm/types.h"

namespace loom::comm::kernels {

// Storage tags so that loads and stores overload on the element type.
struct Bf16 { uint16_t bits; };
struct Fp16 { uint16_t bits; };

using ReduceFn = void (*)(void* dst, const void* const* srcs, int nsrcs, size_t count);
using DivideFn = void (*)(void* dst, const void* src, size_t count, int divisor);

struct KernelTable {
  ReduceFn reduce[4][4];  // [DType][RedOp]; nullptr where !IsSupported
  DivideFn divide[4];     // [DType]; nullptr for int32
};

const KernelTable& ScalarKernels();
const KernelTable* Avx2Kernels();    // nullptr when not compiled in
const KernelTable* Avx512Kernels();  // nullptr when not compiled in

namespace {

// One lane: the reference the vector ISAs are tested against, and their tail loop.
struct ScalarIsa {
  static constexpr size_t kWidth = 1;
  static float Load(const float* p) { return *p; }
  static float Load(const Bf16* p) { return half::Bf16ToFloat(p->bits); }
  static float Load(const Fp16* p) { return half::Fp16ToFloat(p->bits); }
  static int32_t Load(const int32_t* p) { return *p; }
  static void Store(float* p, float v) { *p = v; }
  static void Store(Bf16* p, float v) { p->bits = half::FloatToBf16(v); }
  static void Store(Fp16* p, float v) { p->bits = half::FloatToFp16(v); }
  static void Store(int32_t* p, int32_t v) { *p = v; }
  static float Add(float a, float b) { return a + b; }
  // Integer sums wrap like NCCL's and MPI's (two's complement), without signed-overflow UB.
  static int32_t Add(int32_t a, int32_t b) {
    return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
  }
  template <class V> static V Max(V a, V b) { return a > b ? a : b; }
  template <class V> static V Min(V a, V b) { return a < b ? a : b; }
  static float Div(float a, int n) { return a / static_cast<float>(n); }
};

template <class Isa, RedOp kOp, class V>
V Combine(V acc, V x) {
  if constexpr (kOp == RedOp::kMax) return Isa::Max(acc, x);
  else if constexpr (kOp == RedOp::kMin) return Isa::Min(acc, x);
  else return Isa::Add(acc, x);  // kSum, kAvg
}

// One position (i) for lanes [i, i + Isa::kWidth): load every source, combine, store once.
template <class Isa, class T, RedOp kOp>
void ReduceAt(T* dst, const T* const* srcs, int nsrcs, size_t i) {
  auto acc = Isa::Load(srcs[0] + i);
  for (int k = 1; k < nsrcs; ++k) acc = Combine<Isa, kOp>(acc, Isa::Load(srcs[k] + i));
  if constexpr (kOp == RedOp::kAvg) acc = Isa::Div(acc, nsrcs);
  Isa::Store(dst + i, acc);
}

template <class Isa, class T, RedOp kOp>
void Reduce(void* dst_v, const void* const* srcs_v, int nsrcs, size_t count) {
  T* dst = static_cast<T*>(dst_v);
  const T* const* srcs = reinterpret_cast<const T* const*>(srcs_v);
  size_t i = 0;
  for (; i + Isa::kWidth <= count; i += Isa::kWidth) ReduceAt<Isa, T, kOp>(dst, srcs, nsrcs, i);
  for (; i < count; ++i) ReduceAt<ScalarIsa, T, kOp>(dst, srcs, nsrcs, i);
}

template <class Isa, class T>
void Divide(void* dst_v, const void* src_v, size_t count, int divisor) {
  T* dst = static_cast<T*>(dst_v);
  const T* src = static_cast<const T*>(src_v);
  size_t i = 0;
  for (; i + Isa::kWidth <= count; i += Isa::kWidth)
    Isa::Store(dst + i, Isa::Div(Isa::Load(src + i), divisor));
  for (; i < count; ++i) ScalarIsa::Store(dst + i, ScalarIsa::Div(ScalarIsa::Load(src + i), divisor));
}

template <class Isa, class T>
constexpr void FillRow(KernelTable& t, DType d) {
  const int di = static_cast<int>(d);
  t.reduce[di][static_cast<int>(RedOp::kSum)] = &Reduce<Isa, T, RedOp::kSum>;
  t.reduce[di][static_cast<int>(RedOp::kMax)] = &Reduce<Isa, T, RedOp::kMax>;
  t.reduce[di][static_cast<int>(RedOp::kMin)] = &Reduce<Isa, T, RedOp::kMin>;
  if constexpr (!std::is_same_v<T, int32_t>) {
    t.reduce[di][static_cast<int>(RedOp::kAvg)] = &Reduce<Isa, T, RedOp::kAvg>;
    t.divide[di] = &Divide<Isa, T>;
  }
}

template <class Isa>
KernelTable MakeKernelTable() {
  KernelTable t{};
  FillRow<Isa, float>(t, DType::kFloat32);
  FillRow<Isa, Fp16>(t, DType::kFloat16);
  FillRow<Isa, Bf16>(t, DType::kBFloat16);
  FillRow<Isa, int32_t>(t, DType::kInt32);
  return t;
}

}  // namespace
}  // namespace loom::comm::kernels
