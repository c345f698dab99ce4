// peak_gflops: FMA throughput of `threads` cores running an FMA-only loop on
// the active ISA, measured for about `seconds`.
#include <chrono>
#include <vector>
#include "common.h"
#include "cpu/by_isa.h"

namespace fastmlp {
#ifdef FASTMLP_X86
float fma_loop_avx512(long iters);
float fma_loop_avx2(long iters);
#endif

static float fma_loop_generic(long iters) {  // 8 lanes x 8 chains, plain C++
  float acc[8][8];
  for (int i = 0; i < 8; ++i)
    for (int l = 0; l < 8; ++l) acc[i][l] = 1.0f + 1e-3f * float(i * 8 + l);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < 8; ++i)
      for (int l = 0; l < 8; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
  float s = 0;
  for (int i = 0; i < 8; ++i)
    for (int l = 0; l < 8; ++l) s += acc[i][l];
  return s;
}

static double run_loop(Isa isa, long iters, float* sink) {
  // returns flops done
  // flops per iteration: 12 FMA chains of 16 or 8 lanes; 8 x 8 multiply-adds
  *sink += FASTMLP_BY_ISA(isa, fma_loop_generic, fma_loop_avx2, fma_loop_avx512)(iters);
  return FASTMLP_BY_ISA(isa, 2.0 * 64, 2.0 * 12 * 8, 2.0 * 12 * 16) * double(iters);
}

double peak_gflops(int threads, double seconds) {
  using clock = std::chrono::steady_clock;
  const Isa isa = active_isa();
  // Calibrate on one thread so each timed run lasts about `seconds`.
  float sink = 0;
  long iters = 1 << 16;
  for (;;) {
    auto t0 = clock::now();
    run_loop(isa, iters, &sink);
    double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0.02 || iters > (1L << 40)) {
      iters = long(double(iters) * seconds / (dt > 0 ? dt : 1e-9)) + 1;
      break;
    }
    iters *= 4;
  }
  std::vector<double> per_thread(size_t(threads), 0.0);
  auto t0 = clock::now();
  parallel_or_inline(threads, [&](int t, int) {
    float local = 0;
    per_thread[size_t(t)] = run_loop(isa, iters, &local);
    if (local == 12345.678f) per_thread[size_t(t)] += 1e-300;  // keeps the loop alive
  });
  double dt = std::chrono::duration<double>(clock::now() - t0).count();
  double flops = 0;
  for (double f : per_thread) flops += f;
  return flops / dt * 1e-9 + (sink == 12345.678f ? 1e-30 : 0.0);
}

}  // namespace fastmlp
