// sgd kernels: see kernels.h (being written).
