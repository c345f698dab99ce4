// cross_entropy (kernels.h) in pieces, for a caller that splits a batch's
// rows over its own threads (the fused step's team, train/train_step.cpp):
// the same arithmetic as one cross_entropy call with Reduction Mean or Sum.
// Rows are grouped in fixed chunks of cross_entropy_chunk_rows(); chunk k's
// loss (the row-order sum of its rows' double losses) goes to part[k]. After
// every chunk of [0, cross_entropy_n_chunks(N)) has been computed (by any
// threads, any split), cross_entropy_total(part, ...) sums the partials in
// chunk order and applies the reduction: bitwise cross_entropy's loss[0], and
// the dlogits rows are bitwise cross_entropy's. Every call takes the whole
// batch's target (N,), since the mean's denominator scales every gradient row.
#pragma once
#include <cstdint>
#include "kernels.h"

namespace fastmlp {

index_t cross_entropy_chunk_rows();
index_t cross_entropy_n_chunks(index_t N);
// Chunks [k0, k1) of the batch logits (N,C): part[k] and dlogits' rows of
// those chunks (dlogits (N,C) or nullptr; may alias logits). reduction: Mean or Sum.
void cross_entropy_chunks(const float* logits, const std::int64_t* target, index_t N, index_t C,
                          const float* weight, std::int64_t ignore_index, float label_smoothing,
                          Reduction reduction, index_t k0, index_t k1, double* part, float* dlogits);
// The reduced loss from every chunk's part (cross_entropy_n_chunks(N) of them).
float cross_entropy_total(const double* part, index_t N, const std::int64_t* target, const float* weight,
                          std::int64_t ignore_index, Reduction reduction);

}  // namespace fastmlp
