"""gelu_forward / gelu_backward against the float64 reference on every ISA path, 1 and 2
threads (the shared checks: tests/activation_cases.py).

Tolerances (both forms: x*0.5*(1+erf(x/sqrt 2)) and 0.5x(1+tanh(inner))). Forward: the
bracket 1 + erf (or 1 + tanh) has an absolute error of at most ~3U (erf/tanh within 1.5
ulp <= 1.5U of a value <= 1, the rounding of the argument moving it by <= U, the add U),
multiplied by 0.5|x| (exact), then the final rounding: 2U|x| + 2 ulp(r). PyTorch's
formula cancels in 1 + erf for x < -3, which is why the bound is absolute in x.
Backward, erf form: cdf (abs <= 1.5U + U), x*pdf with pdf = exp(-t^2)/sqrt(2 pi) from erf's
own exp, t = fl(x/sqrt 2): t^2 is within 3U relative of x^2/2 (t's rounding twice, the
square), so x*pdf is within 3U + 3U*x^2/2 relative (the 3U: exp, the two multiplies), i.e.
<= 3U*0.242 + 1.5U*0.55 absolute (|x pdf| <= 0.242, |x^3 pdf| <= 0.55); the add (U of a
sum <= 1.13) and the multiply (U|r|): 5.3U|dout| + U|r| <= 6U(|dout| + |r|). Tanh form: 1 - t^2 has an absolute error
<= 4U and is multiplied by 0.5|x| * sqrt(2/pi)(1 + 0.134 x^2) <= |x|(1 + 0.134 x^2);
the other terms as above: 8U|dout|(1 + |x|(1 + 0.134 x^2)) + U|r|.
"""
import numpy as np

import activation_cases as ac
from fastmlp import kernels
from helpers import U

# kernels.gelu_forward, kernels.gelu_backward: called through each Case (case.fwd, case.bwd).
CASES = [
    ac.Case("gelu", "input", {}, lambda x, r: 2 * U * np.abs(x) + 2 * ac.ulp(r),
            lambda d, s, r: 6 * U * (np.abs(d) + np.abs(r)), scale=3.0),
    ac.Case("gelu", "input", {"approximate": "tanh"}, lambda x, r: 2 * U * np.abs(x) + 2 * ac.ulp(r),
            lambda d, s, r: 8 * U * np.abs(d) * (1 + np.abs(s) * (1 + 0.134 * s * s)) + U * np.abs(r), scale=3.0),
]

globals().update(ac.make_tests(CASES))
