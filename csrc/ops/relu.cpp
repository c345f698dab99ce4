// ReLU forward and backward. x, y, dout, dx are (n,) flat.
// Elementwise work is split into contiguous ranges, so results never depend on
// the thread count.
#include <cstdint>
#include <cstring>
#include "common.h"

namespace fastmlp {
namespace {

// Below this many elements a parallel region (several microseconds) costs
// more than the memory-bound loop it would split.
constexpr index_t kParallelMin = index_t(1) << 16;

// y[b:e] = max(x, 0). y may alias x (element i is read before it is written).
void relu_range(const float* x, float* y, index_t b, index_t e) {
  for (index_t i = b; i < e; ++i) {
    const float v = x[i];
    y[i] = v <= 0.0f ? 0.0f : v;  // NaN compares false: NaN propagates
  }
}

// dx[b:e] = dout * (y > 0): a multiply by 1.0f or 0.0f (not a select), like
// the reference, so NaN/inf in dout give NaN where y <= 0 too. The
// multiplier is built from its bit pattern: written as `c ? 1.0f : 0.0f` GCC
// turns the multiply into a branch (x * 1 == x) that -ftrapping-math then
// keeps from being vectorised (a mispredicted branch per element).
void relu_backward_range(const float* dout, const float* y, float* dx, index_t b, index_t e) {
  for (index_t i = b; i < e; ++i) {
    const std::uint32_t bits = y[i] > 0.0f ? 0x3f800000u : 0u;  // 1.0f : 0.0f
    float keep;
    std::memcpy(&keep, &bits, sizeof keep);
    dx[i] = dout[i] * keep;
  }
}

}  // namespace

void relu_forward(const float* x, float* y, index_t n) {
  // y may alias x: each element is read before it is written, no __restrict.
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    relu_range(x, y, b, e);
  });
}

void relu_backward(const float* dout, const float* y, float* dx, index_t n) {
  // dx may alias dout (or y): elementwise, read before written.
  parallel_or_inline(threads_if(n >= kParallelMin), [&](int t, int nt) {
    index_t b, e;
    split_range(n, t, nt, 16, &b, &e);
    relu_backward_range(dout, y, dx, b, e);
  });
}

}  // namespace fastmlp
