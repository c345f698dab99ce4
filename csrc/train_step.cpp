// Fused training step/epoch: see kernels.h (not written yet).
