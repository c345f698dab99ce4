// normalize_row_body compiled with -mavx2 (and nothing else: see normalize_row.h).
#include "train/normalize_row.h"

namespace fastmlp {

void normalize_row_avx2(const std::uint8_t* src, index_t F, bool has_mean, bool has_std,
                        float mean, float sd, float* dst) {
  normalize_row_body(src, F, has_mean, has_std, mean, sd, dst);
}

}  // namespace fastmlp
