"""Test-wide settings: one BLAS/OpenMP thread (tests are small; thread pools only add noise and
contention on a shared 2-core machine)."""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def pytest_configure(config) -> None:
    """``CHAINRULE_REQUIRE_TORCH=1`` (CI): fail at once, loudly, when torch cannot be imported,
    instead of skipping every parity test."""
    if os.environ.get("CHAINRULE_REQUIRE_TORCH", "") in ("", "0"):
        return
    try:
        import torch  # noqa: F401
    except ImportError as e:
        import pytest

        raise pytest.UsageError(
            f"CHAINRULE_REQUIRE_TORCH=1 but torch cannot be imported ({e}): the parity tests "
            "would all skip; pip install torch==2.13.0") from None
