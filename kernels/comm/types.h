// Element types and reduction operators shared by every Communicator backend, the reduction
// kernels, the tests and loom-bench. Kept small on purpose: these are the types a training step
// moves (fp32 master weights and optimizer state, bf16/fp16 activations and gradients, int32
// indices and counters).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loom::comm {

enum class DType : uint8_t { kFloat32, kFloat16, kBFloat16, kInt32 };
inline constexpr DType kAllDTypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                       DType::kInt32};

// kAvg is sum divided by the number of ranks. It is defined for the floating-point types only:
// NCCL's integer average truncates, MPI has none, and nobody averages int32 on purpose.
enum class RedOp : uint8_t { kSum, kMax, kMin, kAvg };
inline constexpr RedOp kAllRedOps[] = {RedOp::kSum, RedOp::kMax, RedOp::kMin, RedOp::kAvg};

constexpr size_t DTypeSize(DType t) { return t == DType::kFloat32 || t == DType::kInt32 ? 4 : 2; }
constexpr bool IsFloatingPoint(DType t) { return t != DType::kInt32; }
constexpr bool IsSupported(DType t, RedOp op) { return op != RedOp::kAvg || IsFloatingPoint(t); }

// Names as nccl-tests prints them ("float", "half", "bfloat16", "int32"; "sum", "max", ...).
std::string_view DTypeName(DType t);
std::string_view RedOpName(RedOp op);
// Parses the names above, plus the aliases fp32/f32, fp16/f16, bf16, int; false when unknown.
bool ParseDType(std::string_view name, DType* out);
bool ParseRedOp(std::string_view name, RedOp* out);

// bf16 and fp16 are stored as raw 16-bit patterns; these are the reference (scalar) conversions
// (kernels/comm/half_convert.h holds their bodies). Narrowing rounds to nearest, ties to even, and
// keeps NaN a NaN.
float Bf16ToFloat(uint16_t h);
uint16_t FloatToBf16(float f);
float Fp16ToFloat(uint16_t h);
uint16_t FloatToFp16(float f);

// Element i of a buffer of `dtype`, read as or written from a double (rounded to nearest even;
// int32 rounds to the nearest integer). For tests, checks and fills: not for hot loops.
double GetElement(const void* base, size_t i, DType dtype);
void SetElement(void* base, size_t i, DType dtype, double value);

}  // namespace loom::comm
