// Dropout's Philox blocks on AVX-512 (philox.h's contract). Each 64-bit lane
// holds one counter's 32-bit word (zero-extended): _mm512_mul_epu32 gives the
// exact 32x32 -> 64-bit product whose halves are Philox's mulhi and mullo, so
// the words are the scalar path's bit for bit (integer arithmetic only).
// Upper lane halves may hold garbage between rounds: the multiplies read only
// the low halves, and the final words are masked.
#include <immintrin.h>
#include <cstring>
#include "ops/philox.h"

namespace fastmlp {

index_t dropout_blocks_avx512(const float* x, float* y, std::uint64_t c0, index_t nc,
                              const std::uint32_t* rk, std::uint32_t t, float scale) {
  const __m512i m0 = _mm512_set1_epi64(kPhiloxM0), m1 = _mm512_set1_epi64(kPhiloxM1);
  const __m512i lo32 = _mm512_set1_epi64(0xffffffffLL);
  const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i tv = _mm512_set1_epi64(t);
  std::uint32_t sbits;
  std::memcpy(&sbits, &scale, sizeof sbits);
  const __m512i sv = _mm512_set1_epi64(sbits);
  // Lanes (w0|w1 of counter c) of a and (w2|w3 of c) of b interleaved: elements 4c .. 4c+3.
  const __m512i idx0 = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
  const __m512i idx1 = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  __m512i k0[kPhiloxRounds], k1[kPhiloxRounds];
  for (int r = 0; r < kPhiloxRounds; ++r) {
    k0[r] = _mm512_set1_epi64(rk[2 * r]);
    k1[r] = _mm512_set1_epi64(rk[2 * r + 1]);
  }
  index_t done = 0;
  for (; done + 8 <= nc; done += 8) {
    const __m512i c = _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(c0 + done)), lanes);
    __m512i x0 = c, x1 = _mm512_srli_epi64(c, 32), x2 = _mm512_setzero_si512(), x3 = x2;
    for (int r = 0; r < kPhiloxRounds; ++r) {
      const __m512i p0 = _mm512_mul_epu32(m0, x0), p1 = _mm512_mul_epu32(m1, x2);
      x0 = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p1, 32), x1), k0[r]);
      x1 = p1;
      x2 = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p0, 32), x3), k1[r]);
      x3 = p0;
    }
    auto mult = [&](__m512i w) {  // scale where (w & 0xffffffff) >> 8 >= t, else 0
      const __mmask8 keep = _mm512_cmpge_epu64_mask(_mm512_srli_epi64(_mm512_and_si512(w, lo32), 8), tv);
      return _mm512_maskz_mov_epi64(keep, sv);
    };
    const __m512i a = _mm512_or_si512(mult(x0), _mm512_slli_epi64(mult(x1), 32));
    const __m512i b = _mm512_or_si512(mult(x2), _mm512_slli_epi64(mult(x3), 32));
    const float* xs = x + 4 * done;
    float* ys = y + 4 * done;
    const __m512 v0 = _mm512_loadu_ps(xs), v1 = _mm512_loadu_ps(xs + 16);
    _mm512_storeu_ps(ys, _mm512_mul_ps(v0, _mm512_castsi512_ps(_mm512_permutex2var_epi64(a, idx0, b))));
    _mm512_storeu_ps(ys + 16, _mm512_mul_ps(v1, _mm512_castsi512_ps(_mm512_permutex2var_epi64(a, idx1, b))));
  }
  return done;
}

}  // namespace fastmlp
