// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011): constants and the block interface shared by the
// baseline and the per-ISA dropout files. Constants only, no code: this
// header is included by ISA-specific translation units.
#pragma once
#include <cstdint>
#include "kernels.h"

namespace fastmlp {

// The round multipliers and the Weyl key increments of Philox4x32.
constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;
constexpr int kPhiloxRounds = 10;

// The dropout of counters [c0, c0 + nc) (elements [4 c0, 4 c0 + 4 nc)) as
// dropout.cpp defines it: y[j] = x[j] * (word_j >> 8 >= t ? scale : 0), where
// x and y point at element 4 c0, rk[2r], rk[2r+1] is round r's key (r bumps
// applied) and word_j is output word j % 4 of Philox4x32-10 at counter
// (c, c >> 32, 0, 0), c = c0 + j / 4. Returns how many counters it did (a
// multiple of its vector width, at most nc); the caller does the rest.
// y may alias x exactly.
index_t dropout_blocks_avx2(const float* x, float* y, std::uint64_t c0, index_t nc,
                            const std::uint32_t* rk, std::uint32_t t, float scale);
index_t dropout_blocks_avx512(const float* x, float* y, std::uint64_t c0, index_t nc,
                              const std::uint32_t* rk, std::uint32_t t, float scale);

}  // namespace fastmlp
