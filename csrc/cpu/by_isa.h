// The one place a per-ISA function table is indexed by the ISA path: each
// dispatch site names its generic, AVX2 and AVX-512 variants once, and
// FASTMLP_BY_ISA(isa, generic, avx2, avx512) gives the one for `isa`.
// Declarations and the choice only: the variants stay in their per-ISA files
// (*_avx2.cpp / *_avx512.cpp). Off x86 the macro is `generic` without naming
// the others (their per-ISA files are not built there).
#pragma once
#include "kernels.h"

namespace fastmlp {

template <class T>
struct ByIsaSame { using type = T; };

// avx512 for Isa::Avx512, avx2 for Isa::Avx2, generic otherwise. A variant
// may be null where the site has none (e.g. a scalar-only generic path).
template <class T>
constexpr T by_isa(Isa isa, T generic, typename ByIsaSame<T>::type avx2, typename ByIsaSame<T>::type avx512) {
  return isa == Isa::Avx512 ? avx512 : isa == Isa::Avx2 ? avx2 : generic;
}

}  // namespace fastmlp

#ifdef FASTMLP_X86
#define FASTMLP_BY_ISA(isa, generic, avx2, avx512) ::fastmlp::by_isa((isa), generic, avx2, avx512)
#else
#define FASTMLP_BY_ISA(isa, generic, avx2, avx512) ((void)(isa), generic)
#endif
