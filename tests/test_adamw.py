"""adamw_update (torch.optim.AdamW's step): adam_update's pass with the decay decoupled,
param * (1 - lr*weight_decay) before the moments. Against its float64 twin with the
bound derived in tests/helpers.py's ``adam_step_bounds`` (the decay adds two roundings
of |p|), every ISA path, 1 and 2 threads; the decay's exact effect; bad input.
(The bitwise 1-vs-2-threads test of both kernels is in tests/test_adam.py.)
"""
import inspect

import numpy as np
import pytest

import test_adam
from fastmlp import kernels, reference
from helpers import check_adam_step

CONFIGS = test_adam.CONFIGS


def test_signature_matches_reference():
    assert inspect.signature(kernels.adamw_update) == inspect.signature(reference.adamw_update)


def test_defaults_are_torch_adamw():
    params = inspect.signature(kernels.adamw_update).parameters
    assert params["weight_decay"].default == 1e-2 and params["lr"].default == 1e-3
    assert inspect.signature(kernels.adam_update).parameters["weight_decay"].default == 0.0


@pytest.mark.parametrize("step", [1, 1000])
@pytest.mark.parametrize("cfg", CONFIGS, ids=test_adam.cfg_id)
@pytest.mark.parametrize("shape", test_adam.SHAPES)
def test_one_step_vs_twin(rng, isa, threads, shape, cfg, step):
    check_adam_step("adamw_update", rng, shape, dict(cfg, lr=0.01), step)


@pytest.mark.parametrize("cfg", [CONFIGS[2], CONFIGS[-1]], ids=test_adam.cfg_id)
def test_one_step_vs_twin_large(rng, isa, threads, cfg):
    check_adam_step("adamw_update", rng, test_adam.LARGE, cfg, 5)


def test_decay_is_decoupled():
    # Zero gradient and moments: Adam moves nothing (the decay goes into g, then through
    # m / denom), AdamW multiplies the parameter by 1 - lr*wd exactly.
    f = np.float32
    p0 = np.array([1.0, -2.0, 3.5], f)
    z = np.zeros(3, f)
    pw = p0.copy()
    kernels.adamw_update(pw, z, z.copy(), z.copy(), step=1, lr=0.1, weight_decay=0.5)
    np.testing.assert_array_equal(pw, p0 * f(1 - 0.1 * 0.5))
    pa = p0.copy()
    kernels.adam_update(pa, z, z.copy(), z.copy(), step=1, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(pa, p0 - 0.1 * np.sign(p0), rtol=1e-6)


class TestBadInput(test_adam.TestBadInput):
    name = "adamw_update"
