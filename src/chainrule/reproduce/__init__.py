"""Published results, reproduced by one command each: ``chainrule reproduce NAME``.

Each experiment is one entry in ``EXPERIMENTS`` (see ``registry.py``): a name, the paper it
reproduces, the ``chainrule.nn`` layers it needs, and a function that runs it and returns a
``Report`` (Markdown tables with the published figure beside chainrule's and PyTorch's, and the
pictures it wrote). ``docs/results.md`` has every table with its command and timings.

    from chainrule import reproduce
    report = reproduce.run("xor", seeds=20, out="runs/reproduce/xor")
    print(report.markdown())
"""

from chainrule.reproduce import fashion, mnist1d, nielsen, rumelhart
from chainrule.reproduce.common import Options, Report
from chainrule.reproduce.registry import (
    EXPERIMENTS,
    Experiment,
    PendingError,
    get,
    listing,
    missing_layers,
    register,
    run,
)

__all__ = ["EXPERIMENTS", "Experiment", "Options", "PendingError", "Report", "fashion", "get",
           "listing", "missing_layers", "mnist1d", "nielsen", "register", "rumelhart", "run"]
