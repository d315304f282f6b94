// The GPU backends (Loom's Hopper and portable kernels, cuBLASLt) against the double-precision
// reference and against each other. Every test skips, saying why, when no CUDA device is present
// (CI builds this suite without a GPU); Hopper-only cases skip on other devices.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/gemm/backends.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_test_util.h"

namespace loom::gemm {
namespace {

using internal::LoomKernel;
using testing::CheckAgainstReference;
using testing::MakeProblem;
using testing::Problem;
using testing::Shape;
using testing::ShapeString;

// Why GPU tests cannot run here, or "" when they can.
std::string NoDeviceReason() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
  }
  return count == 0 ? "cudaGetDeviceCount returned 0" : "";
}

bool DeviceIsHopper() {
  int major = 0, minor = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
  return major == 9 && minor == 0;
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    EXPECT_EQ(cudaMalloc(&ptr_, bytes_ == 0 ? 1 : bytes_), cudaSuccess);
  }
  template <typename T>
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size() * sizeof(T)) {
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), bytes_, cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  std::vector<uint8_t> Download() const {
    std::vector<uint8_t> host(bytes_);
    EXPECT_EQ(cudaMemcpy(host.data(), ptr_, bytes_, cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

// The ways a test can run a GEMM on the device.
enum class Path { kLoomAuto, kHopper, kPortable, kCublas };

const char* PathName(Path p);
void PrintTo(Path p, std::ostream* os) { *os << PathName(p); }

const char* PathName(Path p) {
  switch (p) {
    case Path::kLoomAuto: return "loom";
    case Path::kHopper: return "hopper";
    case Path::kPortable: return "portable";
    case Path::kCublas: return "cublas";
  }
  return "?";
}

Status RunOnDevice(Path path, const GemmDesc& g, const void* a, const void* b, const void* c,
                   void* d) {
  switch (path) {
    case Path::kLoomAuto: return Gemm(g, a, b, c, d, Backend::kLoom);
    case Path::kCublas: return Gemm(g, a, b, c, d, Backend::kCublas);
    case Path::kHopper:
      return internal::LoomGpuGemm(g, a, b, c, d, nullptr, LoomKernel::kHopper);
    case Path::kPortable:
      return internal::LoomGpuGemm(g, a, b, c, d, nullptr, LoomKernel::kPortable);
  }
  return InvalidArgument("unknown path");
}

size_t OutBytes(const Problem& p) {
  return p.OutElems() * (p.desc.out_type == DType::kF32 ? 4 : 2);
}

// Uploads the problem, runs `path`, and returns D on the host (poisoned with NaN beforehand so an
// unwritten element fails the comparison).
std::vector<uint8_t> RunProblem(Path path, const Problem& p) {
  DeviceBuffer a(p.a), b(p.b), d(OutBytes(p));
  DeviceBuffer c = p.desc.out_type == DType::kF32 ? DeviceBuffer(p.c_f32) : DeviceBuffer(p.c_bf16);
  EXPECT_EQ(cudaMemset(d.get(), 0xff, OutBytes(p)), cudaSuccess);
  const Status s = RunOnDevice(path, p.desc, a.get(), b.get(), c.get(), d.get());
  EXPECT_TRUE(s.ok()) << PathName(path) << ": " << s.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return d.Download();
}

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = NoDeviceReason();
    if (!reason.empty()) GTEST_SKIP() << "no CUDA device: " << reason;
  }
  void SkipUnlessHopper(Path path) {
    if (path == Path::kHopper && !DeviceIsHopper()) {
      GTEST_SKIP() << "not a Hopper (sm_90) device: the sm_90a kernel cannot run here";
    }
  }
};

constexpr Shape kShapes[] = {{1, 1, 1},     {17, 33, 65}, {128, 256, 64}, {200, 300, 100},
                             {4096, 8, 64}, {8, 4096, 72}, {1000, 1000, 1000}};
constexpr std::pair<Op, Op> kOps[] = {
    {Op::kN, Op::kN}, {Op::kN, Op::kT}, {Op::kT, Op::kN}, {Op::kT, Op::kT}};

using ShapeParam = std::tuple<Path, Shape, std::pair<Op, Op>, DType>;
class GpuGemmShapes : public GpuTest, public ::testing::WithParamInterface<ShapeParam> {};

// Leading dimensions are rounded up to multiples of 8 so the Hopper kernel's copy engine can read
// the operands; the odd M, N, K still exercise every edge and the K tail.
TEST_P(GpuGemmShapes, MatchesReference) {
  const auto [path, shape, ops, out_type] = GetParam();
  SkipUnlessHopper(path);
  GemmDesc desc = PackedDesc(ops.first, ops.second, shape.m, shape.n, shape.k, 1, out_type);
  desc.lda = (desc.lda + 7) / 8 * 8;
  desc.ldb = (desc.ldb + 7) / 8 * 8;
  desc.beta = 0.5f;
  desc.alpha = 1.5f;
  const Problem p = MakeProblem(desc, 17);
  const std::vector<uint8_t> d = RunProblem(path, p);
  EXPECT_EQ(CheckAgainstReference(p, d.data()), "");
}

std::string ShapeName(const ::testing::TestParamInfo<ShapeParam>& info) {
  const auto& [path, s, ops, t] = info.param;
  return std::string(PathName(path)) + "_" + ShapeString(s) + "_" + OpsName(ops.first, ops.second) +
         (t == DType::kF32 ? "_f32" : "_bf16");
}

INSTANTIATE_TEST_SUITE_P(
    All, GpuGemmShapes,
    ::testing::Combine(::testing::Values(Path::kHopper, Path::kPortable, Path::kCublas),
                       ::testing::ValuesIn(kShapes), ::testing::ValuesIn(kOps),
                       ::testing::Values(DType::kBF16, DType::kF32)),
    ShapeName);

class GpuGemmPaths : public GpuTest, public ::testing::WithParamInterface<Path> {};

// Packed odd leading dimensions: the Hopper kernel cannot take them, `loom` must fall back.
TEST_P(GpuGemmPaths, UnalignedLeadingDimensions) {
  const Path path = GetParam();
  if (path == Path::kHopper) GTEST_SKIP() << "the Hopper kernel requires 16-byte aligned rows";
  for (const auto& [op_a, op_b] : kOps) {
    GemmDesc desc = PackedDesc(op_a, op_b, 17, 33, 65, 1, DType::kBF16);
    const Problem p = MakeProblem(desc, 23);
    EXPECT_EQ(CheckAgainstReference(p, RunProblem(path, p).data()), "") << OpsName(op_a, op_b);
  }
}

TEST_P(GpuGemmPaths, BatchedStridedAndBroadcast) {
  const Path path = GetParam();
  SkipUnlessHopper(path);
  for (const bool broadcast_b : {false, true}) {
    GemmDesc desc = PackedDesc(Op::kN, Op::kT, 130, 260, 72, 3, DType::kF32);
    desc.stride_a += 8 * 72;  // gaps between batch entries
    if (broadcast_b) desc.stride_b = 0;
    desc.beta = 1.0f;
    const Problem p = MakeProblem(desc, 29);
    EXPECT_EQ(CheckAgainstReference(p, RunProblem(path, p).data()), "") << broadcast_b;
  }
}

TEST_P(GpuGemmPaths, ScaleOnlyWhenKIsZeroOrAlphaIsZero) {
  const Path path = GetParam();
  if (path == Path::kHopper) GTEST_SKIP() << "K = 0 never reaches the Hopper kernel";
  GemmDesc desc = PackedDesc(Op::kN, Op::kN, 33, 17, 0, 1, DType::kBF16);
  desc.beta = -1.25f;
  const Problem p = MakeProblem(desc, 31);
  EXPECT_EQ(CheckAgainstReference(p, RunProblem(path, p).data()), "");
}

INSTANTIATE_TEST_SUITE_P(All, GpuGemmPaths,
                         ::testing::Values(Path::kLoomAuto, Path::kHopper, Path::kPortable,
                                           Path::kCublas),
                         [](const auto& info) { return std::string(PathName(info.param)); });

// 8192^3, the headline shape: the Hopper kernel against cuBLAS on every element, and both
// against the double reference on a sample (a full double reference would take hours on a CPU).
// The element-wise bound needs S_ij = |alpha| sum |a||b|, computed by cuBLAS on |A| and |B|.
TEST_F(GpuTest, Large8192CubeAgreesWithCublas) {
  SkipUnlessHopper(Path::kHopper);
  constexpr int64_t kN = 8192;
  const GemmDesc desc = PackedDesc(Op::kN, Op::kT, kN, kN, kN, 1, DType::kF32);
  const Problem p = MakeProblem(desc, 37);
  const std::vector<uint8_t> ours = RunProblem(Path::kLoomAuto, p);
  const std::vector<uint8_t> theirs = RunProblem(Path::kCublas, p);
  EXPECT_EQ(CheckAgainstReference(p, ours.data(), 2048), "") << "loom";
  EXPECT_EQ(CheckAgainstReference(p, theirs.data(), 2048), "") << "cublas";

  Problem abs = p;
  for (auto& x : abs.a) x.bits &= 0x7fff;
  for (auto& x : abs.b) x.bits &= 0x7fff;
  const std::vector<uint8_t> mag_bytes = RunProblem(Path::kCublas, abs);
  const auto* x = reinterpret_cast<const float*>(ours.data());
  const auto* y = reinterpret_cast<const float*>(theirs.data());
  const auto* mag = reinterpret_cast<const float*>(mag_bytes.data());
  // Each side is within the reference bound, so they differ by at most twice of it.
  const double acc = 2.0 * std::ldexp(1.0, -20) * std::sqrt(double(kN));
  int64_t bad = 0;
  for (int64_t i = 0; i < kN * kN; ++i) {
    if (!(std::fabs(double(x[i]) - y[i]) <= 2.0 * (acc * mag[i] + 1e-30))) ++bad;
  }
  EXPECT_EQ(bad, 0) << "elements where loom and cuBLAS disagree beyond the bound";
}

}  // namespace
}  // namespace loom::gemm
