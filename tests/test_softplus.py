"""softplus_forward / softplus_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances (b = beta*x; beta, threshold float32-exact). Forward, b > threshold: x, exact.
Else log1p(exp(b))/beta: the rounding of b (relative U, moving log1p(exp(b)) by at most
U|b| relative to it), exp (2U relative, shrunk by e/(1+e)/log1p(e) <= 1), log1p (0.76 ulp
<= 1.52U), the divide (U): (5 + |b|)U|r|. Backward dout*z/(z+1), z = exp(b): the same
rounding of b and exp (relative (2 + |b|)U on z, shrunk by 1/(1+z)), z + 1, the multiply
and the divide: (5 + |b|)U|r|.
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.softplus_forward, kernels.softplus_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("softplus", "input", {}, lambda x, r: (5 + np.abs(x)) * U * np.abs(r),
            lambda d, s, r: (5 + np.abs(s)) * U * np.abs(r), scale=10.0),
    ac.Case("softplus", "input", {"beta": 2.0, "threshold": 10.0}, lambda x, r: (5 + 2 * np.abs(x)) * U * np.abs(r),
            lambda d, s, r: (5 + 2 * np.abs(s)) * U * np.abs(r), scale=10.0),
    ac.Case("softplus", "input", {"beta": -0.5, "threshold": 5.0}, lambda x, r: (5 + 0.5 * np.abs(x)) * U * np.abs(r),
            lambda d, s, r: (5 + 0.5 * np.abs(s)) * U * np.abs(r), scale=10.0),
]

globals().update(ac.make_tests(CASES))
