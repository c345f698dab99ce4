"""elu_forward / elu_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances. Forward: x > 0 is exact; alpha*expm1(x): expm1's measured bound (1.34 ulp,
bench/results/README.md#activation-ulp) and the multiply by the float32-exact alpha
(<= 0.5 ulp): 2.5 ulp(r). Backward from the same float32 y: y + alpha and the multiply
round once each: 3U|r| (x > 0: dout itself, exact).
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.elu_forward, kernels.elu_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("elu", "output", {}, lambda x, r: 2.5 * ac.ulp(r), lambda d, s, r: 3 * U * np.abs(r), scale=3.0),
    ac.Case("elu", "output", {"alpha": 0.5}, lambda x, r: 2.5 * ac.ulp(r), lambda d, s, r: 3 * U * np.abs(r), scale=3.0),
    ac.Case("elu", "output", {"alpha": 2.5}, lambda x, r: 2.5 * ac.ulp(r), lambda d, s, r: 3 * U * np.abs(r), scale=3.0),
]

globals().update(ac.make_tests(CASES))
