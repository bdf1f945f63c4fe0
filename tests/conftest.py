"""Test-wide settings: one BLAS/OpenMP thread (tests are small; thread pools only add noise and
contention on a shared 2-core machine)."""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
