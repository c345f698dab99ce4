// The vector activations (activation_vecmath.h) for the baseline build: one
// float per "vector" (portable C++, any CPU). fma is a multiply then an add
// (two roundings; the file is compiled with -ffp-contract=off so the compiler
// never fuses them), so results may differ from the AVX paths in the last bits.
#include <cstdint>
#include "kernels.h"
#include "ops/activation_isa.h"

#define FASTMLP_VM_NS generic
namespace fastmlp {
namespace generic {
namespace {
struct VScalar {
  using f = float;
  using i = std::int32_t;
  using m = bool;
  static constexpr int W = 1;
  static f set1(float v) { return v; }
  static i seti(int v) { return v; }
  static f load(const float* p) { return *p; }
  static void store(float* p, f v) { *p = v; }
  static f load_n(const float* p, int) { return *p; }  // never called (W == 1)
  static void store_n(float* p, f v, int) { *p = v; }
  static f add(f a, f b) { return a + b; }
  static f sub(f a, f b) { return a - b; }
  static f mul(f a, f b) { return a * b; }
  static f div(f a, f b) { return a / b; }
  static f fma(f a, f b, f c) { return a * b + c; }
  static f min(f a, f b) { return a < b ? a : b; }
  static f max(f a, f b) { return a > b ? a : b; }
  static f abs(f a) { return from_bits(bits(a) & 0x7fffffff); }
  // Round to nearest even by the 1.5 * 2^23 shift (|a| < 2^22 here: the callers clamp).
  static f round(f a) { return (a + 12582912.0f) - 12582912.0f; }
  static m lt(f a, f b) { return a < b; }
  static m le(f a, f b) { return a <= b; }
  static m gt(f a, f b) { return a > b; }
  static m eq(f a, f b) { return a == b; }
  static m isnan(f a) { return a != a; }
  static f select(m k, f a, f b) { return k ? a : b; }
  static i to_int(f a) { return i(a); }
  static f to_float(i a) { return f(a); }
  static i bits(f a) {
    i r;
    __builtin_memcpy(&r, &a, sizeof r);
    return r;
  }
  static f from_bits(i a) {
    f r;
    __builtin_memcpy(&r, &a, sizeof r);
    return r;
  }
  static i iadd(i a, i b) { return i(std::uint32_t(a) + std::uint32_t(b)); }
  static i isub(i a, i b) { return i(std::uint32_t(a) - std::uint32_t(b)); }
  static i iand(i a, i b) { return a & b; }
  static i ior(i a, i b) { return a | b; }
  static i shl23(i a) { return i(std::uint32_t(a) << 23); }
  static i sra23(i a) { return a >> 23; }  // arithmetic (GCC, Clang)
};
}  // namespace
using VEC = VScalar;
}  // namespace generic
}  // namespace fastmlp
#include "ops/activation_vecmath.h"
#include "ops/activation_exports.h"
