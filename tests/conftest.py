"""Shared test configuration.

JAX is configured as equinox does: strict dtype promotion and no implicit rank
promotion catch silent dtype/broadcasting bugs; float64 is enabled because the
parity tests compare against float64 references.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

try:  # jax is an optional extra; tests that need it import it via helpers
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
except ImportError:  # pragma: no cover
    pass


# Property tests draw the same examples on every run, so that CI is reproducible;
# OP_SYSTEM_HYPOTHESIS=explore draws new ones (a local search for bugs).
try:
    from hypothesis import settings

    settings.register_profile("reproducible", derandomize=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("OP_SYSTEM_HYPOTHESIS", "reproducible"))
except ImportError:  # pragma: no cover
    pass
