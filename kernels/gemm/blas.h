// The CBLAS entry points the CPU backend and loom-bench gemm's anchor use: OpenBLAS's where it is
// installed (LOOM_HAVE_OPENBLAS, every full build), else a plain loop with the same signature.
// The fallback exists for the kernels-only build on a GPU machine whose image has no OpenBLAS:
// there the CPU backend only has to be right (tests, references), not fast.
#pragma once

#if LOOM_HAVE_OPENBLAS
#include <cblas.h>
#else
#include <cstdint>

enum CBLAS_ORDER { CblasRowMajor = 101 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };

inline int openblas_get_num_threads() { return 1; }

// Row-major only, as Loom calls it: C = alpha·op(A)·op(B) + beta·C, fp32 accumulation.
inline void cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                        float alpha, const float* a, int lda, const float* b, int ldb, float beta,
                        float* c, int ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t p = 0; p < k; ++p) {
        const float x = ta == CblasNoTrans ? a[i * lda + p] : a[p * lda + i];
        const float y = tb == CblasNoTrans ? b[p * ldb + j] : b[j * ldb + p];
        acc += x * y;
      }
      float& out = c[i * ldc + j];
      out = alpha * acc + (beta == 0.0f ? 0.0f : beta * out);
    }
  }
}
#endif
