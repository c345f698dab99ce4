// The vector activations (activation_vecmath.h) on AVX2 + FMA: 8 floats per
// vector; a tail is computed as a zero-padded vector in a stack buffer (the
// same per-element arithmetic as the body). Compiled with -mavx2 -mfma and
// -ffp-contract=off (only the explicit FMAs, the same as the AVX-512 file's,
// so the two paths agree bitwise). Includes no baseline inline code (common.h).
#include <immintrin.h>
#include <cstdint>
#include "kernels.h"
#include "ops/activation_isa.h"
#include "ops/simd_avx2.h"

#define FASTMLP_VM_NS avx2
namespace fastmlp {
namespace avx2 {
using VEC = V256;
}  // namespace avx2
}  // namespace fastmlp
#include "ops/activation_vecmath.h"
#include "ops/activation_exports.h"
