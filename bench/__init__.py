"""chainrule's benchmark harness: workloads beside PyTorch and a hand-written NumPy floor.

Run ``python -m bench.run`` (``--help`` for options). Benchmarks report ratios and medians; they
never assert on time. See ``docs/benchmarks.md`` for the method.
"""
