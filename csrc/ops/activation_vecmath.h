// Vector float32 transcendentals and the activations built on them, written
// once on a tiny SIMD abstraction V and instantiated per ISA:
//   activation_avx512.cpp (V = 16 x float, AVX-512F), activation_avx2.cpp
//   (V = 8 x float, AVX2 + FMA), activation_generic.cpp (V = 1 float, the
//   baseline build: V::fma is a multiply then an add, two roundings).
// Every function is a template on V and lives in the namespace the including
// file names with FASTMLP_VM_NS, so no instantiation or inline function is
// shared between translation units compiled with different flags (the ODR
// rule of common.h). This header includes nothing: the includer provides
// <cstdint> and the V type.
//
// V provides (all lanewise; f: float vector, i: int32 vector, m: lane mask):
//   W, set1, seti, load, store, load_n/store_n (the first n < W lanes; the
//   other lanes of load_n are 0), add, sub, mul, div, fma(a, b, c) = a*b + c,
//   min(a, b) = a < b ? a : b, max(a, b) = a > b ? a : b (x86 MINPS/MAXPS:
//   the second operand when either is NaN), abs, round (to nearest even),
//   lt, le, gt, eq, isnan, mor, select(m, a, b) = m ? a : b, to_int (of an
//   integral float), to_float (int32 -> float), bits/from_bits
//   (reinterpretation), iadd, isub, iand, shl23, sra23; for W > 1 also
//   stream(p, v) (a non-temporal store of a whole vector at a 64-byte
//   aligned p) and fence() (orders the streamed stores before later ones).
// Algorithms (Cephes/musl/SLEEF style, coefficients of our own where noted):
//   exp, expm1: x = n ln2 + r (Cody-Waite two-constant split, |r| <= ln2/2),
//     expm1(r) = r + r^2 P(r) (Taylor, degree 8), scaled by 2^n in two steps
//     so n = 128 and subnormal results do not need special cases.
//   log1p: musl's log1pf: u = 1 + x, its exponent k and mantissa in
//     [sqrt(1/2), sqrt(2)), the rounding of 1 + x corrected by c = (x - (u-1))/u.
//   tanh: |x| < 0.625 Cephes' odd polynomial, else t = expm1(2|x|), t / (t + 2).
//   erf: |x| < 0.875 x P(x^2); else 1 - exp(-x^2) R(1 / (1 + |x|)) with P, R
//     near-minimax fits of our own (Lawson iterations in float64).
//   sigmoid: 1 / (1 + exp(-x)), the rounding of 1 + exp(-x) compensated.
// Denormals: kernels run under DenormalGuard (FTZ + DAZ), so a subnormal
// input is read as (signed) zero by arithmetic and a subnormal result is
// flushed to zero; expm1 and log1p return a tiny x (|x| < 2^-24, which
// includes the subnormals) itself through a select, the correct result.
// The measured accuracy of each function on each path:
// bench/results/README.md#activation-ulp.

// The transcendentals and the per-element activations are always inlined:
// on Pair<Pair<V>> an out-of-line call passes and returns four vectors
// through memory.
#ifndef FASTMLP_VM_INLINE
#define FASTMLP_VM_INLINE __attribute__((always_inline)) inline
#endif

namespace fastmlp {
namespace FASTMLP_VM_NS {

// Two vectors of V as one of 2W lanes: every operation applied to both
// halves in turn, so the algorithms below, instantiated on Pair<V>, carry two
// independent dependency chains interleaved instruction by instruction (the
// polynomials are latency-bound). Lanewise, so its results are bitwise those
// of V. Only the full-width loads and stores: the range loops run their body
// on Pair<Pair<V>> (four vectors) and the last n % 4W elements on V.
template <class V>
struct Pair {
  struct f { typename V::f a, b; };
  struct i { typename V::i a, b; };
  struct m { typename V::m a, b; };
  static constexpr int W = 2 * V::W;
#define FASTMLP_PAIR1(name, R, A) \
  static R name(A x) { return {V::name(x.a), V::name(x.b)}; }
#define FASTMLP_PAIR2(name, R, A, B) \
  static R name(A x, B y) { return {V::name(x.a, y.a), V::name(x.b, y.b)}; }
  static f set1(float v) { const auto s = V::set1(v); return {s, s}; }
  static i seti(int v) { const auto s = V::seti(v); return {s, s}; }
  static f load(const float* p) { return {V::load(p), V::load(p + V::W)}; }
  static void store(float* p, f v) { V::store(p, v.a); V::store(p + V::W, v.b); }
  static void stream(float* p, f v) { V::stream(p, v.a); V::stream(p + V::W, v.b); }
  FASTMLP_PAIR2(add, f, f, f)
  FASTMLP_PAIR2(sub, f, f, f)
  FASTMLP_PAIR2(mul, f, f, f)
  FASTMLP_PAIR2(div, f, f, f)
  static f fma(f x, f y, f z) { return {V::fma(x.a, y.a, z.a), V::fma(x.b, y.b, z.b)}; }
  FASTMLP_PAIR2(min, f, f, f)
  FASTMLP_PAIR2(max, f, f, f)
  FASTMLP_PAIR1(abs, f, f)
  FASTMLP_PAIR1(round, f, f)
  FASTMLP_PAIR2(lt, m, f, f)
  FASTMLP_PAIR2(le, m, f, f)
  FASTMLP_PAIR2(gt, m, f, f)
  FASTMLP_PAIR2(eq, m, f, f)
  FASTMLP_PAIR1(isnan, m, f)
  static f select(m k, f x, f y) { return {V::select(k.a, x.a, y.a), V::select(k.b, x.b, y.b)}; }
  FASTMLP_PAIR1(to_int, i, f)
  FASTMLP_PAIR1(to_float, f, i)
  FASTMLP_PAIR1(bits, i, f)
  FASTMLP_PAIR1(from_bits, f, i)
  FASTMLP_PAIR2(iadd, i, i, i)
  FASTMLP_PAIR2(isub, i, i, i)
  FASTMLP_PAIR2(iand, i, i, i)
  FASTMLP_PAIR2(ior, i, i, i)
  FASTMLP_PAIR1(shl23, i, i)
  FASTMLP_PAIR1(sra23, i, i)
#undef FASTMLP_PAIR1
#undef FASTMLP_PAIR2
};

template <class V>
struct VecMath {
  using f = typename V::f;

  // 2^n for an integral-valued float n in [-126, 127].
  FASTMLP_VM_INLINE static f pow2i(f n) { return V::from_bits(V::shl23(V::iadd(V::to_int(n), V::seti(127)))); }

  // expm1(r) for |r| <= ln2/2 + a little: r + r^2 (1/2 + r/6 + ... + r^6/8!).
  FASTMLP_VM_INLINE static f expm1_reduced(f r) {
    f p = V::set1(2.48015873e-05f);                  // 1/8!
    p = V::fma(p, r, V::set1(1.98412698e-04f));      // 1/7!
    p = V::fma(p, r, V::set1(1.38888889e-03f));      // 1/6!
    p = V::fma(p, r, V::set1(8.33333333e-03f));      // 1/5!
    p = V::fma(p, r, V::set1(4.16666667e-02f));      // 1/4!
    p = V::fma(p, r, V::set1(1.66666667e-01f));      // 1/3!
    p = V::fma(p, r, V::set1(0.5f));
    return V::fma(V::mul(r, r), p, r);
  }

  // x = n ln2 + r: n = round(x / ln2), r by the two-constant split (n*kLn2Hi
  // is exact for |n| < 2^15, and x - n*kLn2Hi is exact).
  FASTMLP_VM_INLINE static f reduce(f x, f* n) {
    *n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
    f r = V::fma(*n, V::set1(-0.693359375f), x);
    return V::fma(*n, V::set1(2.12194440e-4f), r);
  }

  FASTMLP_VM_INLINE static f exp(f x) {
    // Clamp: below -104 the result is 0, above 89 it is inf (both reached
    // by the scaling below). MAXPS/MINPS return the bound for NaN.
    const f xc = V::min(V::max(x, V::set1(-104.0f)), V::set1(89.0f));
    f n;
    const f r = reduce(xc, &n);
    const f u = expm1_reduced(r);
    const f n1 = V::round(V::mul(n, V::set1(0.5f)));  // n = n1 + n2, both in [-75, 64]
    const f s1 = pow2i(n1), s2 = pow2i(V::sub(n, n1));
    const f y = V::mul(V::fma(u, s1, s1), s2);  // s1*u is exact: one rounding without FMA too
    return V::select(V::isnan(x), x, y);
  }

  // exp for the callers whose input or use makes the ends irrelevant:
  //   kNonPositive: x <= 0 or NaN (erf_gauss's -x^2; NaN gives a finite value
  //     the caller replaces), clamped below at -87.5 (n >= -126);
  //   kSigmoid: any x, clamped to [-87.5, 88.375] (n <= 127: beyond it 1 + e
  //     and 1 / (1 + e) are the same with or without the clamp, FTZ flushing
  //     the subnormal quotient), NaN passed through.
  // One 2^n scale, fma(u, 2^n, 2^n): with the AVX paths' one-rounding FMA this
  // is exp's result bit for bit wherever exp's result is normal (both round
  // 2^n (1 + u) once; exp's second factor is an exact power of 2), and a
  // subnormal result is flushed by FTZ in both. The generic path's multiply
  // then add would flush u 2^n near the bottom: it takes exp itself.
  enum class ExpUse { kNonPositive, kSigmoid };
  template <ExpUse U>
  FASTMLP_VM_INLINE static f exp_for(f x) {
    if constexpr (V::W == 1) {
      return exp(x);
    } else {
      f xc = V::max(x, V::set1(-87.5f));
      if constexpr (U == ExpUse::kSigmoid) xc = V::min(xc, V::set1(88.375f));
      f n;
      const f r = reduce(xc, &n);
      const f u = expm1_reduced(r);
      const f s = pow2i(n);
      const f y = V::fma(u, s, s);
      if constexpr (U == ExpUse::kSigmoid) return V::select(V::isnan(x), x, y);
      return y;
    }
  }

  FASTMLP_VM_INLINE static f expm1(f x) {
    // Below -30 the result rounds to -1; above 89 it is inf.
    const f xc = V::min(V::max(x, V::set1(-30.0f)), V::set1(89.0f));
    f n;
    const f r = reduce(xc, &n);
    const f u = expm1_reduced(r);
    // 2^n u + (2^n - 1), as 2 (h u + (h - 1/2)) with h = 2^(n-1) so that
    // n = 128 does not overflow the scale; h*u is exact, so this is one
    // rounding with or without FMA, and h - 1/2 is exact whenever it matters.
    const f h = pow2i(V::sub(n, V::set1(1.0f)));
    f y = V::mul(V::fma(u, h, V::sub(h, V::set1(0.5f))), V::set1(2.0f));
    // |x| < 2^-24: expm1(x) rounds to x (this keeps -0, and tiny normal x,
    // which h*u above would flush to zero).
    y = V::select(V::lt(V::abs(x), V::set1(5.9604645e-08f)), x, y);
    return V::select(V::isnan(x), x, y);
  }

  FASTMLP_VM_INLINE static f log1p(f x) {
    const f one = V::set1(1.0f);
    const f u = V::add(one, x);
    // Exponent k and mantissa m in [sqrt(1/2), sqrt(2)) of u.
    auto iu = V::iadd(V::bits(u), V::seti(0x3f800000 - 0x3f3504f3));
    auto k = V::isub(V::sra23(iu), V::seti(0x7f));
    iu = V::iadd(V::iand(iu, V::seti(0x007fffff)), V::seti(0x3f3504f3));
    const f fm = V::sub(V::from_bits(iu), one);
    const f dk = V::to_float(k);
    // The rounding error of u = 1 + x, relative to u (0 once it is below u's precision).
    f c = V::select(V::lt(dk, V::set1(2.0f)), V::sub(x, V::sub(u, one)), V::sub(one, V::sub(u, x)));
    c = V::select(V::lt(dk, V::set1(25.0f)), V::div(c, u), V::set1(0.0f));
    const f s = V::div(fm, V::add(V::set1(2.0f), fm));
    const f z = V::mul(s, s), w = V::mul(z, z);
    const f t1 = V::mul(w, V::add(V::set1(0.40000972152f), V::mul(w, V::set1(0.24279078841f))));
    const f t2 = V::mul(z, V::add(V::set1(0.66666662693f), V::mul(w, V::set1(0.28498786688f))));
    const f R = V::add(t2, t1);
    const f hfsq = V::mul(V::mul(V::set1(0.5f), fm), fm);
    f y = V::add(V::mul(s, V::add(hfsq, R)), V::add(V::mul(dk, V::set1(9.0580006145e-06f)), c));
    y = V::add(V::add(V::sub(y, hfsq), fm), V::mul(dk, V::set1(6.9313812256e-01f)));
    // Specials: -1 -> -inf, below -1 -> NaN, +inf -> +inf, NaN -> NaN, +-0 -> +-0.
    y = V::select(V::eq(x, V::set1(0.0f)), x, y);
    y = V::select(V::eq(x, V::set1(__builtin_inff())), x, y);
    y = V::select(V::eq(x, V::set1(-1.0f)), V::set1(-__builtin_inff()), y);
    y = V::select(V::lt(x, V::set1(-1.0f)), V::set1(__builtin_nanf("")), y);
    return V::select(V::isnan(x), x, y);
  }

  FASTMLP_VM_INLINE static f tanh(f x) {
    const f a = V::abs(x);
    // |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf).
    const f z = V::mul(x, x);
    f p = V::set1(-5.70498872745e-3f);
    p = V::fma(p, z, V::set1(2.06390887954e-2f));
    p = V::fma(p, z, V::set1(-5.37397155531e-2f));
    p = V::fma(p, z, V::set1(1.33314422036e-1f));
    p = V::fma(p, z, V::set1(-3.33332819422e-1f));
    const f small = V::fma(V::mul(p, z), x, x);
    // Else tanh|x| = t / (t + 2), t = expm1(2|x|); |x| >= 10 gives 1 exactly.
    const f t = expm1(V::mul(V::min(a, V::set1(10.0f)), V::set1(2.0f)));
    f big = V::div(t, V::add(t, V::set1(2.0f)));
    big = V::from_bits(V::ior(V::bits(big), V::iand(V::bits(x), V::seti(int(0x80000000u)))));
    const f y = V::select(V::lt(a, V::set1(0.625f)), small, big);
    return V::select(V::isnan(x), x, y);
  }

  FASTMLP_VM_INLINE static f erf(f x) {
    f g;
    return erf_gauss(x, &g);
  }

  // erf(x), and *g = exp(-x^2) (gelu's backward needs both). Beyond |x| = 4
  // (where erf rounds to 1) R is evaluated at 4 but multiplied by the smaller
  // exp(-x^2): 1 - e*R still rounds to 1, the same bits as with exp(-16).
  FASTMLP_VM_INLINE static f erf_gauss(f x, f* g) {
    const f a = V::abs(x);
    // |x| < 0.875: x P(x^2), P's constant term as a float pair (hi + lo)
    // so that its rounding does not bias the result: x*hi + x*(lo + z Q(z)).
    const f z = V::mul(x, x);
    f p = V::set1(8.442629768978804e-05f);
    p = V::fma(p, z, V::set1(-0.0008160531870089471f));
    p = V::fma(p, z, V::set1(0.005202681757509708f));
    p = V::fma(p, z, V::set1(-0.026860110461711884f));
    p = V::fma(p, z, V::set1(0.11283709853887558f));
    p = V::fma(p, z, V::set1(-0.37612634897232056f));
    p = V::fma(p, z, V::set1(-5.886091258844317e-08f));
    const f small = V::fma(x, V::set1(1.128379225730896f), V::mul(x, p));
    // Else erfc|x| = exp(-x^2) R(1/(1+|x|)), |x| clamped to 4 (erf rounds to 1 beyond 3.92).
    const f ac = V::min(a, V::set1(4.0f));
    const f t = V::div(V::set1(1.0f), V::add(V::set1(1.0f), ac));
    f q = V::set1(-0.4803656339645386f);
    q = V::fma(q, t, V::set1(1.0043193101882935f));
    q = V::fma(q, t, V::set1(-0.31111088395118713f));
    q = V::fma(q, t, V::set1(-0.8023387789726257f));
    q = V::fma(q, t, V::set1(0.48435544967651367f));
    q = V::fma(q, t, V::set1(0.5238101482391357f));
    q = V::fma(q, t, V::set1(0.5683932900428772f));
    q = V::fma(q, t, V::set1(-0.00018128218653146178f));
    const f e = exp_for<ExpUse::kNonPositive>(V::mul(z, V::set1(-1.0f)));  // z = x x = a a
    *g = e;
    f big = V::sub(V::set1(1.0f), V::mul(e, q));
    big = V::from_bits(V::ior(V::bits(big), V::iand(V::bits(x), V::seti(int(0x80000000u)))));
    const f y = V::select(V::lt(a, V::set1(0.875f)), small, big);
    return V::select(V::isnan(x), x, y);
  }

  // 1 / (1 + e), e = exp(-x), with the rounding error c of d = fl(1 + e)
  // (Fast2Sum: exact) fed back: 1/(d + c) = q - q*q*c to first order, q = 1/d.
  FASTMLP_VM_INLINE static f sigmoid(f x) {
    const f one = V::set1(1.0f);
    const f e = exp_for<ExpUse::kSigmoid>(V::mul(x, V::set1(-1.0f)));
    const f d = V::add(one, e);
    f c = V::add(V::sub(V::max(e, one), d), V::min(e, one));
    c = V::select(V::lt(e, V::set1(1e30f)), c, V::set1(0.0f));  // d = inf: no correction
    const f q = V::div(one, d);
    return V::fma(V::mul(q, V::set1(-1.0f)), V::mul(q, c), q);
  }
};

// ------------------------------------------------------------ activations ----
// One element's forward and backward, as PyTorch defines them (kernels.h).
// p0, p1: ActivationSpec's parameters. The same code serves <stem>_forward,
// the GEMM epilogue and the fused epoch, so they agree bitwise on a path.

// SoftplusUnit: Softplus with beta == 1 (x * 1 and y / 1 are exact: the
// same bits without the multiply and the divide); forward_dispatch picks it.
enum class Fn : int { Identity, Relu, LeakyRelu, Tanh, Sigmoid, Gelu, GeluTanh, Silu, Elu, Softplus, SoftplusUnit };

template <class V>
struct Act {
  using f = typename V::f;
  using M = VecMath<V>;
  static constexpr float kSqrt1_2 = 0.70710678118654752440f;
  static constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1/sqrt(2 pi)
  static constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  static constexpr float kKappa = 0.044715f;

  template <Fn K>
  FASTMLP_VM_INLINE static f forward(f x, float p0, float p1) {
    const f zero = V::set1(0.0f), one = V::set1(1.0f), half = V::set1(0.5f);
    if constexpr (K == Fn::Identity) {
      return x;
    } else if constexpr (K == Fn::Relu) {
      return V::select(V::le(x, zero), zero, x);  // NaN propagates
    } else if constexpr (K == Fn::LeakyRelu) {
      return V::select(V::gt(x, zero), x, V::mul(x, V::set1(p0)));
    } else if constexpr (K == Fn::Tanh) {
      return M::tanh(x);
    } else if constexpr (K == Fn::Sigmoid) {
      return M::sigmoid(x);
    } else if constexpr (K == Fn::Gelu) {  // x * 0.5 * (1 + erf(x / sqrt 2))
      return V::mul(V::mul(x, half), V::add(one, M::erf(V::mul(x, V::set1(kSqrt1_2)))));
    } else if constexpr (K == Fn::GeluTanh) {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      const f x3 = V::mul(V::mul(x, x), x);
      const f inner = V::mul(V::set1(kSqrt2OverPi), V::add(x, V::mul(V::set1(kKappa), x3)));
      return V::mul(V::mul(half, x), V::add(one, M::tanh(inner)));
    } else if constexpr (K == Fn::Silu) {  // x / (1 + exp(-x))
      return V::div(x, V::add(one, M::exp(V::mul(x, V::set1(-1.0f)))));
    } else if constexpr (K == Fn::Elu) {  // x > 0 ? x : alpha * expm1(x)
      return V::select(V::gt(x, zero), x, V::mul(V::set1(p0), M::expm1(x)));
    } else if constexpr (K == Fn::SoftplusUnit) {
      return V::select(V::gt(x, V::set1(p1)), x, M::log1p(M::exp(x)));
    } else {  // Softplus: beta x > threshold ? x : log1p(exp(beta x)) / beta
      const f bx = V::mul(x, V::set1(p0));
      const f y = V::div(M::log1p(M::exp(bx)), V::set1(p0));
      return V::select(V::gt(bx, V::set1(p1)), x, y);
    }
  }

  // dx from dout and `s`, the saved output (Relu, Tanh, Sigmoid, Elu) or input.
  template <Fn K>
  FASTMLP_VM_INLINE static f backward(f d, f s, float p0, float p1) {
    const f zero = V::set1(0.0f), one = V::set1(1.0f), half = V::set1(0.5f);
    if constexpr (K == Fn::Identity) {
      return d;
    } else if constexpr (K == Fn::Relu) {  // threshold_backward: y <= 0 ? 0 : dout (a select:
      return V::select(V::le(s, zero), zero, d);  // inf/NaN dout give 0 there, NaN y gives dout)
    } else if constexpr (K == Fn::LeakyRelu) {  // from the input
      return V::select(V::gt(s, zero), d, V::mul(d, V::set1(p0)));
    } else if constexpr (K == Fn::Tanh) {  // dout * (1 - y^2)
      return V::mul(d, V::sub(one, V::mul(s, s)));
    } else if constexpr (K == Fn::Sigmoid) {  // dout * (1 - y) * y
      return V::mul(V::mul(d, V::sub(one, s)), s);
    } else if constexpr (K == Fn::Gelu) {  // dout * (cdf + x pdf), pdf from erf's exp(-(x/sqrt 2)^2)
      f g;
      const f cdf = V::mul(half, V::add(one, M::erf_gauss(V::mul(s, V::set1(kSqrt1_2)), &g)));
      const f pdf = V::mul(g, V::set1(kInvSqrt2Pi));
      return V::mul(d, V::add(cdf, V::mul(s, pdf)));
    } else if constexpr (K == Fn::GeluTanh) {
      const f x2 = V::mul(s, s);
      const f inner = V::mul(V::set1(kSqrt2OverPi), V::add(s, V::mul(V::set1(kKappa), V::mul(x2, s))));
      const f th = M::tanh(inner);
      const f left = V::mul(half, s), right = V::add(one, th);
      const f dinner = V::mul(V::set1(kSqrt2OverPi), V::add(one, V::mul(V::set1(3.0f * kKappa), x2)));
      const f dright = V::mul(V::mul(left, V::sub(one, V::mul(th, th))), dinner);
      return V::mul(d, V::add(V::mul(half, right), dright));
    } else if constexpr (K == Fn::Silu) {  // dout * sig * (1 + x (1 - sig))
      const f sig = M::sigmoid(s);
      return V::mul(V::mul(d, sig), V::add(one, V::mul(s, V::sub(one, sig))));
    } else if constexpr (K == Fn::Elu) {  // from the output: y <= 0 ? dout * (y + alpha) : dout
      return V::select(V::le(s, zero), V::mul(d, V::add(s, V::set1(p0))), d);
    } else {  // Softplus, from the input: beta x > threshold ? dout : dout / (1 + exp(-beta x))
      // (= dout z / (z + 1), z = exp(beta x), without the intermediate z and
      // dout z that FTZ flushes to 0 when they, not the result, are subnormal).
      const f bx = V::mul(s, V::set1(p0));
      const f e = M::exp(V::mul(bx, V::set1(-1.0f)));
      return V::select(V::gt(bx, V::set1(p1)), d, V::div(d, V::add(one, e)));
    }
  }

  // y[0:n] = forward(x[0:n]). y may alias x. Every element gets the same
  // arithmetic wherever it falls (all lanewise), so the split below never
  // changes a bit: the elements before y's first 64-byte line boundary and the
  // last ones through V (load_n/store_n for a partial vector), the rest four
  // vectors at a time (Pair) with stores on whole lines, streamed
  // (non-temporal, then a fence) when `stream`.
  template <Fn K>
  static void forward_short(const float* x, float* y, index_t n, float p0, float p1) {
    index_t i = 0;
    for (; i + V::W <= n; i += V::W) V::store(y + i, forward<K>(V::load(x + i), p0, p1));
    if (i < n) V::store_n(y + i, forward<K>(V::load_n(x + i, int(n - i)), p0, p1), int(n - i));
  }

  template <Fn K>
  static void forward_range(const float* x, float* y, index_t n, float p0, float p1, bool stream) {
    index_t i = 0;
    if constexpr (V::W > 1) {
      using P = Pair<Pair<V>>;
      i = head_to_line(y, n);
      forward_short<K>(x, y, i, p0, p1);
      if (stream) {
        for (; i + P::W <= n; i += P::W)
          P::stream(y + i, Act<P>::template forward<K>(P::load(x + i), p0, p1));
        V::fence();
      } else {
        for (; i + P::W <= n; i += P::W)
          P::store(y + i, Act<P>::template forward<K>(P::load(x + i), p0, p1));
      }
    }
    forward_short<K>(x + i, y + i, n - i, p0, p1);
  }

  template <Fn K>
  static void backward_short(const float* d, const float* s, float* dx, index_t n, float p0, float p1) {
    index_t i = 0;
    for (; i + V::W <= n; i += V::W)
      V::store(dx + i, backward<K>(V::load(d + i), V::load(s + i), p0, p1));
    if (i < n) {
      const int r = int(n - i);
      V::store_n(dx + i, backward<K>(V::load_n(d + i, r), V::load_n(s + i, r), p0, p1), r);
    }
  }

  template <Fn K>
  static void backward_range(const float* d, const float* s, float* dx, index_t n, float p0, float p1,
                             bool stream) {
    index_t i = 0;
    if constexpr (V::W > 1) {
      using P = Pair<Pair<V>>;
      i = head_to_line(dx, n);
      backward_short<K>(d, s, dx, i, p0, p1);
      if (stream) {
        for (; i + P::W <= n; i += P::W)
          P::stream(dx + i, Act<P>::template backward<K>(P::load(d + i), P::load(s + i), p0, p1));
        V::fence();
      } else {
        for (; i + P::W <= n; i += P::W)
          P::store(dx + i, Act<P>::template backward<K>(P::load(d + i), P::load(s + i), p0, p1));
      }
    }
    backward_short<K>(d + i, s + i, dx + i, n - i, p0, p1);
  }

  // The elements before the first 64-byte boundary at or after p (at most n;
  // 0 when p is not float-aligned, then no store is on a whole line anyway).
  static index_t head_to_line(const float* p, index_t n) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const index_t h = (a % 4) ? 0 : index_t((64 - a % 64) % 64 / 4);
    return h < n ? h : n;
  }
};

// The entry points each ISA file exports (activation_isa.h), over a range.
template <class V>
void forward_dispatch(const ActivationSpec& a, const float* x, float* y, index_t n, bool stream) {
  using A = Act<V>;
  const float p0 = a.p0, p1 = a.p1;
  switch (a.kind) {
    case Activation::Identity: A::template forward_range<Fn::Identity>(x, y, n, p0, p1, stream); break;
    case Activation::Relu: A::template forward_range<Fn::Relu>(x, y, n, p0, p1, stream); break;
    case Activation::LeakyRelu: A::template forward_range<Fn::LeakyRelu>(x, y, n, p0, p1, stream); break;
    case Activation::Tanh: A::template forward_range<Fn::Tanh>(x, y, n, p0, p1, stream); break;
    case Activation::Sigmoid: A::template forward_range<Fn::Sigmoid>(x, y, n, p0, p1, stream); break;
    case Activation::Gelu: A::template forward_range<Fn::Gelu>(x, y, n, p0, p1, stream); break;
    case Activation::GeluTanh: A::template forward_range<Fn::GeluTanh>(x, y, n, p0, p1, stream); break;
    case Activation::Silu: A::template forward_range<Fn::Silu>(x, y, n, p0, p1, stream); break;
    case Activation::Elu: A::template forward_range<Fn::Elu>(x, y, n, p0, p1, stream); break;
    case Activation::Softplus:
      if (p0 == 1.0f)
        A::template forward_range<Fn::SoftplusUnit>(x, y, n, p0, p1, stream);
      else
        A::template forward_range<Fn::Softplus>(x, y, n, p0, p1, stream);
      break;
  }
}

template <class V>
void backward_dispatch(const ActivationSpec& a, const float* d, const float* s, float* dx, index_t n,
                       bool stream) {
  using A = Act<V>;
  const float p0 = a.p0, p1 = a.p1;
  switch (a.kind) {
    case Activation::Identity: A::template backward_range<Fn::Identity>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Relu: A::template backward_range<Fn::Relu>(d, s, dx, n, p0, p1, stream); break;
    case Activation::LeakyRelu: A::template backward_range<Fn::LeakyRelu>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Tanh: A::template backward_range<Fn::Tanh>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Sigmoid: A::template backward_range<Fn::Sigmoid>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Gelu: A::template backward_range<Fn::Gelu>(d, s, dx, n, p0, p1, stream); break;
    case Activation::GeluTanh: A::template backward_range<Fn::GeluTanh>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Silu: A::template backward_range<Fn::Silu>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Elu: A::template backward_range<Fn::Elu>(d, s, dx, n, p0, p1, stream); break;
    case Activation::Softplus: A::template backward_range<Fn::Softplus>(d, s, dx, n, p0, p1, stream); break;
  }
}

// y = fn(x) for the raw transcendentals (tests and bench/ulp_sweep.py):
// fn is VecMathFn (activation_isa.h).
template <class V>
void math_dispatch(int fn, const float* x, float* y, index_t n) {
  using M = VecMath<V>;
  using f = typename V::f;
  auto run = [&](auto g) {
    index_t i = 0;
    for (; i + V::W <= n; i += V::W) V::store(y + i, g(V::load(x + i)));
    if (i < n) V::store_n(y + i, g(V::load_n(x + i, int(n - i))), int(n - i));
  };
  switch (fn) {
    case 0: run([](f v) { return M::exp(v); }); break;
    case 1: run([](f v) { return M::expm1(v); }); break;
    case 2: run([](f v) { return M::log1p(v); }); break;
    case 3: run([](f v) { return M::tanh(v); }); break;
    case 4: run([](f v) { return M::erf(v); }); break;
    case 5: run([](f v) { return M::sigmoid(v); }); break;
    default: break;
  }
}

}  // namespace FASTMLP_VM_NS
}  // namespace fastmlp
