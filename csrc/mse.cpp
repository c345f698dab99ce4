// mse kernels: see kernels.h (being written).
