"""softplus_forward / softplus_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances (b = beta*x; beta, threshold float32-exact). Forward, b > threshold: x, exact.
Else log1p(exp(b))/beta: the rounding of b (relative U, moving log1p(exp(b)) by at most
U|b| relative to it), exp (2U relative, shrunk by e/(1+e)/log1p(e) <= 1), log1p (0.76 ulp
<= 1.52U), the divide (U): (5 + |b|)U|r|. Backward dout/(1 + e), e = exp(-b): the same
rounding of b and exp (relative (2 + |b|)U on e, shrunk by e/(1+e) <= 1), 1 + e and the
divide: (4 + |b|)U|r|, stated as (5 + |b|)U|r|. FTZ: no intermediate is subnormal unless
e overflows (b < -128 ln 2 ~ -88.72), where dx is 0 and |r| = |dout|/(1 + e) <
|dout| 2^-127 for b < -88 (e^-88 < 2^-126.9): there an absolute |dout| 2^-127 more.
(The forward's exp(b) flushes below b ~ -87.34, where |r| < 2^-126/|beta|: a subnormal,
so within()'s FTZ allowance, for every |beta| >= 1 here; beta = -0.5 would need
|x| > 174, far outside the data.)
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U



def bwd_tol(beta):
    """(5 + |b|)U|r|, plus |dout| 2^-127 where b = beta*x < -88 (the module docstring)."""
    def tol(d, s, r):
        b = beta * s
        return (5 + np.abs(b)) * U * np.abs(r) + np.where(b < -88.0, np.abs(d) * 2.0 ** -127, 0.0)
    return tol


# kernels.softplus_forward, kernels.softplus_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("softplus", "input", {}, lambda x, r: (5 + np.abs(x)) * U * np.abs(r),
            bwd_tol(1.0), scale=10.0),
    ac.Case("softplus", "input", {"beta": 2.0, "threshold": 10.0}, lambda x, r: (5 + 2 * np.abs(x)) * U * np.abs(r),
            bwd_tol(2.0), scale=10.0),
    ac.Case("softplus", "input", {"beta": -0.5, "threshold": 5.0}, lambda x, r: (5 + 0.5 * np.abs(x)) * U * np.abs(r),
            bwd_tol(-0.5), scale=10.0),
]

globals().update(ac.make_tests(CASES))
