"""sigmoid_forward / sigmoid_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances. Forward: the measured bound of 1/(1+exp(-x)) (1.97 ulp over all float32s,
bench/results/README.md#activation-ulp), 2.5 ulp(r). Backward dout*(1-y)*y from the same
float32 y: 1 - y rounds (abs <= U), two multiplies (2U|r|): 3U(|dout| + |r|).
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.sigmoid_forward, kernels.sigmoid_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("sigmoid", "output", {}, lambda x, r: 2.5 * ac.ulp(r), lambda d, s, r: 3 * U * (np.abs(d) + np.abs(r)), scale=6.0),
]

globals().update(ac.make_tests(CASES))
