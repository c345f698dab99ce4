"""silu_forward / silu_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances. Forward x/(1+exp(-x)): exp within 1 ulp (<= 2U relative), the add (U), the
divide (U), margin: 6U|r|. Backward dout*s*(1 + x(1-s)), s = sigmoid(x) within 4U relative:
1 - s has an absolute error <= 5U, times |x|; the add and two multiplies:
8U|dout|(1 + |x|) + 2U|r|.
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.silu_forward, kernels.silu_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("silu", "input", {}, lambda x, r: 6 * U * np.abs(r), lambda d, s, r: 8 * U * np.abs(d) * (1 + np.abs(s)) + 2 * U * np.abs(r), scale=4.0),
]

globals().update(ac.make_tests(CASES))
