"""leaky_relu_forward / leaky_relu_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerance: one float32 multiply by the float32 slope; the reference uses the slope as
given: 0.25 and -1.5 are float32-exact (then the result is the reference rounded, within
U|r|), 0.01 is not (its float32 rounding adds < U relative): 2U|r| for both.
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.leaky_relu_forward, kernels.leaky_relu_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("leaky_relu", "input", {}, lambda x, r: 2 * U * np.abs(r), lambda d, s, r: 2 * U * np.abs(r)),
    ac.Case("leaky_relu", "input", {"negative_slope": 0.25}, lambda x, r: U * np.abs(r), lambda d, s, r: U * np.abs(r)),
    ac.Case("leaky_relu", "input", {"negative_slope": -1.5}, lambda x, r: U * np.abs(r), lambda d, s, r: U * np.abs(r)),
]

globals().update(ac.make_tests(CASES))
