// Packing a transposed B panel with AVX-512: dst[p*32 + j] = src[j*ldb + p]
// for p < kc, j < n (n <= 32), zero for j >= n. This is the forward pass of
// every Linear layer (x @ W.T), so it runs on every call at small sizes; the
// scalar gather costs as much as the arithmetic there. 16 x 16 blocks are
// transposed in registers (unpack, shuffle, 128-bit lane shuffles) so every
// load and store is a full (or masked) 64-byte vector.
#include <immintrin.h>
#include "gemm/kernel_table.h"

namespace fastmlp {

static_assert(kGemmAvx512Wide.MR == 12, "sgemm_pack_a_avx512_12 packs 12-row A panels");

namespace {

// r[0..15] rows -> columns, in place.
inline void transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
  }
}

}  // namespace

void sgemm_pack_b_trans_avx512_32(const float* src, index_t ldb, index_t kc, int n, float* dst) {
  for (index_t p0 = 0; p0 < kc; p0 += 16) {
    const int pk = int(kc - p0 < 16 ? kc - p0 : 16);
    const __mmask16 kmask = pk == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << pk) - 1u);
    for (int jh = 0; jh < 32; jh += 16) {  // two 16-column halves of the panel
      if (jh >= n) {  // small: an all-zero half (e.g. N = 10 logits) is stored, not transposed
        for (int p = 0; p < pk; ++p) _mm512_storeu_ps(dst + (p0 + p) * 32 + jh, _mm512_setzero_ps());
        continue;
      }
      __m512 r[16];
      for (int j = 0; j < 16; ++j)
        r[j] = jh + j < n ? _mm512_maskz_loadu_ps(kmask, src + (jh + j) * ldb + p0)
                          : _mm512_setzero_ps();
      transpose16x16(r);  // r[p] now holds columns jh..jh+15 of row p0+p
      for (int p = 0; p < pk; ++p) _mm512_storeu_ps(dst + (p0 + p) * 32 + jh, r[p]);
    }
  }
}

// Packing an A micro-panel (A stored (M, K), row-major) for the 12 x 32
// micro-kernel: dst[p*12 + i] = src[i*lda + p] for p < kc, i < m (m <= 12),
// zero for i >= m. As sgemm_pack_a_avx2_6: 16 k-values of the 12 rows loaded
// as vectors (rows 12..15 of the 16 x 16 transpose zero), transposed in
// registers, the 16 resulting 12-float columns stored back to back (each
// 64-byte store overlaps the next one's first 4 floats, which that store then
// overwrites), the panel's very last column as 8 + 4 floats so nothing past
// dst[kc*12] is written.
void sgemm_pack_a_avx512_12(const float* src, index_t lda, index_t kc, int m, float* dst) {
  for (index_t p0 = 0; p0 < kc; p0 += 16) {
    const int pk = int(kc - p0 < 16 ? kc - p0 : 16);
    const __mmask16 kmask = pk == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << pk) - 1u);
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < m && i < 12 ? _mm512_maskz_loadu_ps(kmask, src + i * lda + p0) : _mm512_setzero_ps();
    transpose16x16(r);  // r[p] now holds rows 0..15 of column p0+p (rows 12..15 zero)
    float* d = dst + p0 * 12;
    const bool last_block = p0 + pk == kc;
    const int full = last_block ? pk - 1 : pk;  // columns stored with a full 16-float store
    for (int p = 0; p < full; ++p) _mm512_storeu_ps(d + p * 12, r[p]);
    if (last_block) {
      float* e = d + (pk - 1) * 12;
      _mm256_storeu_ps(e, _mm512_castps512_ps256(r[pk - 1]));
      _mm_storeu_ps(e + 8, _mm512_extractf32x4_ps(r[pk - 1], 2));
    }
  }
}

}  // namespace fastmlp
