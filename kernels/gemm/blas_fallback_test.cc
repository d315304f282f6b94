// blas.h's plain-loop sgemm (what a build without OpenBLAS runs): every transpose combination,
// leading dimensions wider than the rows, alpha and beta, against a double-precision loop.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/gemm/blas.h"

#if LOOM_HAVE_OPENBLAS
#error "this test checks the fallback: build it without loom::openblas"
#endif

namespace {

TEST(BlasFallbackTest, MatchesADoubleLoopForEveryTranspose) {
  const int m = 5, n = 7, k = 3, pad = 2;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (CBLAS_TRANSPOSE ta : {CblasNoTrans, CblasTrans}) {
    for (CBLAS_TRANSPOSE tb : {CblasNoTrans, CblasTrans}) {
      const int lda = (ta == CblasNoTrans ? k : m) + pad, ldb = (tb == CblasNoTrans ? n : k) + pad;
      const int ldc = n + pad;
      std::vector<float> a((ta == CblasNoTrans ? m : k) * lda), b((tb == CblasNoTrans ? k : n) * ldb);
      std::vector<float> c(m * ldc);
      for (float& x : a) x = u(rng);
      for (float& x : b) x = u(rng);
      for (float& x : c) x = u(rng);
      const std::vector<float> c0 = c;
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, 0.5f,
                  c.data(), ldc);
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          double acc = 0;
          for (int p = 0; p < k; ++p) {
            acc += double(ta == CblasNoTrans ? a[i * lda + p] : a[p * lda + i]) *
                   double(tb == CblasNoTrans ? b[p * ldb + j] : b[j * ldb + p]);
          }
          EXPECT_NEAR(c[i * ldc + j], 1.5 * acc + 0.5 * c0[i * ldc + j], 1e-5);
        }
        for (int j = n; j < ldc; ++j) EXPECT_EQ(c[i * ldc + j], c0[i * ldc + j]);  // padding kept
      }
    }
  }
}

}  // namespace
