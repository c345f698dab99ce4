// Distributed training's pieces of the fused epoch (issue 13): the allreduce
// through a run-time resolved MPI_Allreduce, the ranks' batch split and the
// losses' normalisers (contracts in train/train.h).
#include <chrono>
#include "train/train.h"

namespace fastmlp {

int GradAllreduce::sum_in_place(float* buf, int count) const {
  const auto t0 = std::chrono::steady_clock::now();
  int rc;
  if (int_handles) {  // MPICH family: MPI_Comm, MPI_Datatype and MPI_Op are int
    using Fn = int (*)(const void*, void*, int, int, int, int);
    rc = reinterpret_cast<Fn>(allreduce)(reinterpret_cast<const void*>(in_place), buf, count,
                                         int(dtype_float), int(op_sum), int(comm));
  } else {  // Open MPI: they are pointers to the library's objects
    using Fn = int (*)(const void*, void*, int, void*, void*, void*);
    rc = reinterpret_cast<Fn>(allreduce)(reinterpret_cast<const void*>(in_place), buf, count,
                                         reinterpret_cast<void*>(dtype_float),
                                         reinterpret_cast<void*>(op_sum),
                                         reinterpret_cast<void*>(comm));
  }
  seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rc;
}

void rank_slice(index_t n, int rank, int world, index_t* lo, index_t* hi) {
  const index_t base = n / world, rem = n % world, r = rank;
  *lo = r * base + (r < rem ? r : rem);
  *hi = *lo + base + (r < rem ? 1 : 0);
}

double loss_normaliser(const TrainLoss& loss, const std::int64_t* y_class, const std::int64_t* idx,
                       index_t lo, index_t hi, index_t C) {
  if (loss.reduction != Reduction::Mean) return 1.0;
  if (!class_targets(loss.kind)) return double(hi - lo) * double(C);
  double w = 0.0;  // cross_entropy's / nll_loss's denominator
  for (index_t i = lo; i < hi; ++i) {
    const std::int64_t t = y_class[idx[i]];
    if (t != loss.ignore_index) w += loss.class_weight ? double(loss.class_weight[t]) : 1.0;
  }
  return w;
}

}  // namespace fastmlp
