// Packing a transposed B panel with AVX2: dst[p*16 + j] = src[j*ldb + p] for
// p < kc, j < n (n <= 16), zero for j >= n. This is the forward pass of every
// Linear layer (x @ W.T) on the AVX2 path, too costly element by element
// (bench/results/README.md#avx2-pack). 8 x 8 blocks are transposed
// in registers (unpack, shuffle, 128-bit lane permutes), so every store is a
// full 32-byte vector; the loads are full rows of 8 k-values, masked only in
// the last, short k block.
#include <immintrin.h>
#include "gemm/kernel_table.h"

namespace fastmlp {

static_assert(kGemmAvx2.NR == 16, "the AVX2 B panel is 16 columns wide");
static_assert(kGemmAvx2.MR == 6, "the AVX2 A panel is 6 rows high");

namespace {

// r[0..7] rows -> columns, in place: afterwards r[q][j] = (old r[j])[q].
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // r_i0 r_(i+1)0 r_i1 r_(i+1)1 | 4, 5
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  //                  2, 3      | 6, 7
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));      // columns 0 | 4
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));  // columns 1 | 5
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));  // 2 | 6
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));  // 3 | 7
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x20);      // rows 0-3 | rows 4-7, low halves
    r[q + 4] = _mm256_permute2f128_ps(s[q], s[q + 4], 0x31);  // high halves
  }
}

inline __m256i first_lanes(int k) {  // lanes [0, k) set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace

void sgemm_pack_b_trans_avx2_16(const float* src, index_t ldb, index_t kc, int n, float* dst) {
  for (index_t p0 = 0; p0 < kc; p0 += 8) {
    const int pk = int(kc - p0 < 8 ? kc - p0 : 8);
    const __m256i kmask = first_lanes(pk);
    for (int jh = 0; jh < 16; jh += 8) {  // two 8-column halves of the panel
      if (jh >= n) {  // small: an all-zero half is stored, not transposed
        for (int p = 0; p < pk; ++p) _mm256_storeu_ps(dst + (p0 + p) * 16 + jh, _mm256_setzero_ps());
        continue;
      }
      __m256 r[8];
      for (int j = 0; j < 8; ++j) {
        const float* row = src + (jh + j) * ldb + p0;
        r[j] = jh + j >= n ? _mm256_setzero_ps()
               : pk == 8   ? _mm256_loadu_ps(row)
                           : _mm256_maskload_ps(row, kmask);  // never past the row's kc values
      }
      transpose8x8(r);  // r[p] now holds columns jh..jh+7 of row p0+p
      for (int p = 0; p < pk; ++p) _mm256_storeu_ps(dst + (p0 + p) * 16 + jh, r[p]);
    }
  }
}

// Packing an A micro-panel (A stored (M, K), row-major) for the 6 x 16
// micro-kernel: dst[p*6 + i] = src[i*lda + p] for p < kc, i < m (m <= 6), zero
// for i >= m. The portable loop (sgemm.cpp pack_a_panel) writes each element
// with a 24-byte stride; here 8 k-values of the 6 rows are loaded as 6 vectors
// (rows 6 and 7 of the 8 x 8 transpose are zero), transposed in registers, and
// the 8 resulting 6-float columns stored back to back: each 32-byte store
// overlaps the next one's first 2 floats, which that store then overwrites, and
// the panel's very last column is stored as 4 + 2 floats so nothing past
// dst[kc*6] is written.
void sgemm_pack_a_avx2_6(const float* src, index_t lda, index_t kc, int m, float* dst) {
  for (index_t p0 = 0; p0 < kc; p0 += 8) {
    const int pk = int(kc - p0 < 8 ? kc - p0 : 8);
    const __m256i kmask = first_lanes(pk);
    __m256 r[8];
    for (int i = 0; i < 8; ++i) {
      const float* row = src + i * lda + p0;
      r[i] = i >= m || i >= 6 ? _mm256_setzero_ps()
             : pk == 8        ? _mm256_loadu_ps(row)
                              : _mm256_maskload_ps(row, kmask);  // never past the row's kc values
    }
    transpose8x8(r);  // r[p] now holds rows 0..7 of column p0+p (rows 6, 7 zero)
    float* d = dst + p0 * 6;
    const bool last_block = p0 + pk == kc;
    const int full = last_block ? pk - 1 : pk;  // columns stored with a full 8-float store
    for (int p = 0; p < full; ++p) _mm256_storeu_ps(d + p * 6, r[p]);
    if (last_block) {
      float* e = d + (pk - 1) * 6;
      _mm_storeu_ps(e, _mm256_castps256_ps128(r[pk - 1]));
      _mm_storel_pi(reinterpret_cast<__m64*>(e + 4), _mm256_extractf128_ps(r[pk - 1], 1));
    }
  }
}

// narrow: a non-transposed B panel, row by row: 16 floats per k row (the row's
// n valid ones through masked loads at an edge, so nothing past n is read).
void sgemm_pack_b_avx2_16(const float* src, index_t ldb, index_t kc, int n, float* dst) {
  if (n == 16) {
    for (index_t p = 0; p < kc; ++p) {
      _mm256_storeu_ps(dst + p * 16, _mm256_loadu_ps(src + p * ldb));
      _mm256_storeu_ps(dst + p * 16 + 8, _mm256_loadu_ps(src + p * ldb + 8));
    }
    return;
  }
  const __m256i k0 = first_lanes(n), k1 = first_lanes(n - 8);
  for (index_t p = 0; p < kc; ++p) {
    _mm256_storeu_ps(dst + p * 16, _mm256_maskload_ps(src + p * ldb, k0));
    _mm256_storeu_ps(dst + p * 16 + 8, n > 8 ? _mm256_maskload_ps(src + p * ldb + 8, k1) : _mm256_setzero_ps());
  }
}

}  // namespace fastmlp
