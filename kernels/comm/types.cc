#include "kernels/comm/types.h"

#include <cmath>

#include "kernels/comm/half_convert.h"

namespace loom::comm {

std::string_view DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float";
    case DType::kFloat16: return "half";
    case DType::kBFloat16: return "bfloat16";
    case DType::kInt32: return "int32";
  }
  return "?";
}

std::string_view RedOpName(RedOp op) {
  switch (op) {
    case RedOp::kSum: return "sum";
    case RedOp::kMax: return "max";
    case RedOp::kMin: return "min";
    case RedOp::kAvg: return "avg";
  }
  return "?";
}

bool ParseDType(std::string_view n, DType* out) {
  if (n == "float" || n == "fp32" || n == "f32" || n == "float32") *out = DType::kFloat32;
  else if (n == "half" || n == "fp16" || n == "f16" || n == "float16") *out = DType::kFloat16;
  else if (n == "bfloat16" || n == "bf16") *out = DType::kBFloat16;
  else if (n == "int32" || n == "int") *out = DType::kInt32;
  else return false;
  return true;
}

bool ParseRedOp(std::string_view n, RedOp* out) {
  if (n == "sum") *out = RedOp::kSum;
  else if (n == "max") *out = RedOp::kMax;
  else if (n == "min") *out = RedOp::kMin;
  else if (n == "avg") *out = RedOp::kAvg;
  else return false;
  return true;
}

float Bf16ToFloat(uint16_t h) { return half::Bf16ToFloat(h); }
uint16_t FloatToBf16(float f) { return half::FloatToBf16(f); }
float Fp16ToFloat(uint16_t h) { return half::Fp16ToFloat(h); }
uint16_t FloatToFp16(float f) { return half::FloatToFp16(f); }

double GetElement(const void* base, size_t i, DType d) {
  switch (d) {
    case DType::kFloat32: return static_cast<const float*>(base)[i];
    case DType::kFloat16: return half::Fp16ToFloat(static_cast<const uint16_t*>(base)[i]);
    case DType::kBFloat16: return half::Bf16ToFloat(static_cast<const uint16_t*>(base)[i]);
    case DType::kInt32: return static_cast<const int32_t*>(base)[i];
  }
  return 0;
}

void SetElement(void* base, size_t i, DType d, double v) {
  switch (d) {
    case DType::kFloat32: static_cast<float*>(base)[i] = static_cast<float>(v); break;
    case DType::kFloat16:
      static_cast<uint16_t*>(base)[i] = half::FloatToFp16(static_cast<float>(v));
      break;
    case DType::kBFloat16:
      static_cast<uint16_t*>(base)[i] = half::FloatToBf16(static_cast<float>(v));
      break;
    case DType::kInt32: static_cast<int32_t*>(base)[i] = static_cast<int32_t>(std::lround(v)); break;
  }
}

}  // namespace loom::comm
