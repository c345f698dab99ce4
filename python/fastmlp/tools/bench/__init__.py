"""``fastmlp bench``: fastmlp beside NumPy, PyTorch and scikit-learn (see :mod:`.harness`)."""
from .harness import *  # noqa: F401,F403  (split into modules by the next commit)
from .harness import (GEMM_QUICK, OPENBLAS_SLOW_VARS, OURS, RATIO_SIDES, SCHEMA,  # noqa: F401
                      SIDE_ORDER, load_train_data, resource, settle, thread_settings)
from .harness import __all__  # noqa: F401
