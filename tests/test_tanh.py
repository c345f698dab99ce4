"""tanh_forward / tanh_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances. Forward: the vector tanh's measured bound (1.43 ulp over all float32s,
bench/results/README.md#activation-ulp) rounded up to 2 ulp(r). Backward dout*(1 - y*y)
from the same float32 y: y*y and 1 - y*y each round (abs error <= U + U since y*y <= 1),
then the multiply (U|r|): 3U(|dout| + |r|).
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.tanh_forward, kernels.tanh_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("tanh", "output", {}, lambda x, r: 2 * ac.ulp(r), lambda d, s, r: 3 * U * (np.abs(d) + np.abs(r)), scale=4.0),
]

globals().update(ac.make_tests(CASES))
