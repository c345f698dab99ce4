// optim_step_apply (ops/optim_step.h): one optimizer step over a whole parameter.
#include "ops/optim_step.h"
#include "common.h"

namespace fastmlp {

void optim_step_apply(const OptimStep& k, float* p, const float* g, float* const* s, index_t n) {
  parallel_or_inline(threads_if(n >= kOptimParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    k.run(p, g, s, b, e);
  });
}

}  // namespace fastmlp
