"""Shared fixtures: fresh random data, every ISA path this CPU runs, 1 and 2 threads.

Random data is fresh each run; the session seed is printed in the header and
``FASTMLP_TEST_SEED=<seed>`` replays a failing run exactly.
"""
import os
import zlib

import numpy as np
import pytest

import fastmlp

SESSION_SEED = int(os.environ.get("FASTMLP_TEST_SEED", np.random.SeedSequence().entropy % 2**32))
ISAS = fastmlp.available_cpu_capabilities()


def pytest_report_header(config):
    return (f"fastmlp {fastmlp.__version__}: FASTMLP_TEST_SEED={SESSION_SEED}, "
            f"cpu paths {ISAS}, default {fastmlp.cpu_capability()}, "
            f"{fastmlp.get_num_threads()} threads, core {fastmlp._core.__file__}"
            f"{' (ASan+UBSan)' if fastmlp._core.build_info['sanitized'] else ''}")


@pytest.fixture
def rng(request):
    """A generator seeded from the session seed and the test's id (stable per test)."""
    return np.random.default_rng([SESSION_SEED, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test on one ISA path (every path this CPU supports), then restore."""
    previous = fastmlp.cpu_capability()
    fastmlp._set_cpu_capability(request.param)
    yield request.param
    fastmlp._set_cpu_capability(previous)


@pytest.fixture(params=[1, 2])
def threads(request):
    """Run the test at 1 and at 2 OpenMP threads, then restore."""
    previous = fastmlp.get_num_threads()
    fastmlp.set_num_threads(request.param)
    yield request.param
    fastmlp.set_num_threads(previous)


@pytest.fixture
def thread_count():
    """Switch thread counts inside a test (for bitwise 1-vs-2 comparisons); restores."""
    previous = fastmlp.get_num_threads()
    yield fastmlp.set_num_threads
    fastmlp.set_num_threads(previous)
