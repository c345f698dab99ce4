// The vector activations (activation_vecmath.h) on AVX-512F: 16 floats per
// vector, tails through masked loads and stores. Compiled with the AVX-512
// flags and -ffp-contract=off (only the explicit FMAs of the algorithms, the
// same ones as the AVX2 file, so the two paths agree bitwise). Includes no
// baseline inline code (common.h).
#include <immintrin.h>
#include <cstdint>
#include "kernels.h"
#include "ops/activation_isa.h"
#include "ops/simd_avx512.h"

#define FASTMLP_VM_NS avx512
namespace fastmlp {
namespace avx512 {
using VEC = V512;
}  // namespace avx512
}  // namespace fastmlp
#include "ops/activation_vecmath.h"
#include "ops/activation_exports.h"
