"""identity_forward / identity_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerance: none; a copy is exact.
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.identity_forward, kernels.identity_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("identity", "input", {}, lambda x, r: 0.0 * r, lambda d, s, r: 0.0 * r),
]

globals().update(ac.make_tests(CASES))
