// The uint8 -> float32 conversion of one image row, exactly as
// fastmlp.data.normalize computes it in float32: x = float(u) / 255, then
// x -= mean (has_mean), then x /= std (has_std). Every step is a correctly
// rounded float32 division or subtraction, so any vector width gives the same
// bits.
//
// The body is compiled twice: baseline in train_step.cpp (SSE2 divps) and with
// AVX2 in normalize_avx2.cpp (8-wide vdivps; bench/results/README.md#normalize-row).
// It has internal linkage (an anonymous namespace), so the linker can never
// hand one translation unit's copy to the other's callers. No multiply appears in it,
// so there is nothing for FMA contraction to change.
#pragma once
#include <cstdint>
#include "kernels.h"

namespace fastmlp {
namespace {

// One loop per case, so each vectorises with no branch inside; __restrict
// because a uint8 source may alias anything: without it GCC left these loops
// scalar (divss).
inline void normalize_row_body(const std::uint8_t* __restrict src, index_t F, bool has_mean,
                               bool has_std, float mean, float sd, float* __restrict dst) {
  const float k255 = 255.0f;
  if (has_mean && has_std)
    for (index_t j = 0; j < F; ++j) dst[j] = (float(src[j]) / k255 - mean) / sd;
  else if (has_mean)
    for (index_t j = 0; j < F; ++j) dst[j] = float(src[j]) / k255 - mean;
  else if (has_std)
    for (index_t j = 0; j < F; ++j) dst[j] = float(src[j]) / k255 / sd;
  else
    for (index_t j = 0; j < F; ++j) dst[j] = float(src[j]) / k255;
}

}  // namespace

// The AVX2 build of normalize_row_body (normalize_avx2.cpp, x86 only).
void normalize_row_avx2(const std::uint8_t* src, index_t F, bool has_mean, bool has_std,
                        float mean, float sd, float* dst);

}  // namespace fastmlp
