// relu kernels: see kernels.h (being written).
