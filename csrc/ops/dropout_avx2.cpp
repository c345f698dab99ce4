// Dropout's Philox blocks on AVX2 (philox.h's contract), four counters per
// step: as dropout_avx512.cpp, one counter's 32-bit word per 64-bit lane and
// _mm256_mul_epu32 for the exact 32x32 -> 64-bit products, so the words are
// the scalar path's bit for bit.
#include <immintrin.h>
#include <cstring>
#include "ops/philox.h"

namespace fastmlp {

index_t dropout_blocks_avx2(const float* x, float* y, std::uint64_t c0, index_t nc,
                            const std::uint32_t* rk, std::uint32_t t, float scale) {
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0), m1 = _mm256_set1_epi64x(kPhiloxM1);
  const __m256i lo32 = _mm256_set1_epi64x(0xffffffffLL);
  const __m256i lanes = _mm256_set_epi64x(3, 2, 1, 0);
  // k >= t as a signed 64-bit k > t - 1 (both in [-1, 2^24]).
  const __m256i tm1 = _mm256_set1_epi64x(static_cast<long long>(t) - 1);
  std::uint32_t sbits;
  std::memcpy(&sbits, &scale, sizeof sbits);
  const __m256i sv = _mm256_set1_epi64x(sbits);
  __m256i k0[kPhiloxRounds], k1[kPhiloxRounds];
  for (int r = 0; r < kPhiloxRounds; ++r) {
    k0[r] = _mm256_set1_epi64x(rk[2 * r]);
    k1[r] = _mm256_set1_epi64x(rk[2 * r + 1]);
  }
  index_t done = 0;
  for (; done + 4 <= nc; done += 4) {
    const __m256i c = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(c0 + done)), lanes);
    __m256i x0 = c, x1 = _mm256_srli_epi64(c, 32), x2 = _mm256_setzero_si256(), x3 = x2;
    for (int r = 0; r < kPhiloxRounds; ++r) {
      const __m256i p0 = _mm256_mul_epu32(m0, x0), p1 = _mm256_mul_epu32(m1, x2);
      x0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1), k0[r]);
      x1 = p1;
      x2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3), k1[r]);
      x3 = p0;
    }
    auto mult = [&](__m256i w) {  // scale where (w & 0xffffffff) >> 8 >= t, else 0
      const __m256i k = _mm256_srli_epi64(_mm256_and_si256(w, lo32), 8);
      return _mm256_and_si256(_mm256_cmpgt_epi64(k, tm1), sv);
    };
    const __m256i a = _mm256_or_si256(mult(x0), _mm256_slli_epi64(mult(x1), 32));  // w0|w1 per counter
    const __m256i b = _mm256_or_si256(mult(x2), _mm256_slli_epi64(mult(x3), 32));  // w2|w3
    const __m256i lo = _mm256_unpacklo_epi64(a, b), hi = _mm256_unpackhi_epi64(a, b);  // c0,c2 | c1,c3
    const float* xs = x + 4 * done;
    float* ys = y + 4 * done;
    const __m256 v0 = _mm256_loadu_ps(xs), v1 = _mm256_loadu_ps(xs + 8);
    _mm256_storeu_ps(ys, _mm256_mul_ps(v0, _mm256_castsi256_ps(_mm256_permute2x128_si256(lo, hi, 0x20))));
    _mm256_storeu_ps(ys + 8, _mm256_mul_ps(v1, _mm256_castsi256_ps(_mm256_permute2x128_si256(lo, hi, 0x31))));
  }
  return done;
}

}  // namespace fastmlp
