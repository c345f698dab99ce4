// cross_entropy kernels: see kernels.h (being written).
