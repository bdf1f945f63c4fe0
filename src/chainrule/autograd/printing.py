"""How tensors print: ``cr.set_printoptions`` (PyTorch's names) and the options ``repr`` reads."""

from __future__ import annotations

from typing import Any

PRINT_OPTIONS: dict[str, Any] = {"precision": 4, "threshold": 1000, "edgeitems": 3,
                                 "max_line_width": 80, "suppress_small": False}
"""The keyword arguments of ``numpy.array2string`` that ``Tensor.__repr__`` passes."""

_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, 2**63 - 1, 3, 80)}


def set_printoptions(precision: int | None = None, threshold: int | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print (as ``torch.set_printoptions``): digits after the point, the size
    above which tensors are summarised, the items kept at each edge of a summary, the line width,
    a ``profile`` ("default", "short", "full") and ``sci_mode`` (False: never scientific)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, "
                             f"got {profile!r}")
        p, t, e, w = _PROFILES[profile]
        PRINT_OPTIONS.update(precision=p, threshold=t, edgeitems=e, max_line_width=w)
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("max_line_width", linewidth)):
        if value is not None:
            PRINT_OPTIONS[key] = int(value)
    if sci_mode is not None:
        PRINT_OPTIONS["suppress_small"] = not sci_mode
