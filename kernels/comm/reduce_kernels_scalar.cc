// The portable kernels: every CPU, and the reference in reduce_kernels_test.
#include "kernels/comm/reduce_kernels_impl.h"

namespace loom::comm::kernels {

const KernelTable& ScalarKernels() {
  static const KernelTable table = MakeKernelTable<ScalarIsa>();
  return table;
}

}  // namespace loom::comm::kernels
