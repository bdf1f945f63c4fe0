"""Your own table of numbers -> ``TensorDataset``: CSV files and NumPy ``.npz`` archives.

    ds = load_csv("iris.csv", label_column="species")   # features float32, labels int64
    ds = load_npz("data.npz")                           # arrays "x" (or "X") and "y"

Only finite numbers are read: a cell that is not a number, or is ``nan``, ``inf`` or too large
for float64 (``1e999``), stops the load with an error naming its line and column
(``allow_nonfinite=True`` lets non-finite cells through).
``.npz`` archives are opened with ``allow_pickle=False``: nothing is ever unpickled.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd.dtypes import get_default_dtype, to_dtype
from chainrule.data.dataset import TensorDataset


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _labels(values: np.ndarray, label_dtype: Any, where: str, lines: list[int],
            column: str) -> np.ndarray:
    integral = np.isfinite(values) & (values == np.round(values))
    if label_dtype == "auto":
        return values.astype(np.int64) if integral.all() else values.astype(np.float32)
    dt = to_dtype(label_dtype)
    if dt.kind in "iu" and not integral.all():
        i = int(np.flatnonzero(~integral)[0])
        raise ValueError(f"{where} line {lines[i]}, column {column}: label {values[i]} is not an "
                         f"integer; expected class indices for label_dtype={dt.name}")
    return values.astype(dt)


def load_csv(path: str | os.PathLike, label_column: int | str | None = -1,
             header: bool | str = "infer", delimiter: str = ",", label_dtype: Any = "auto",
             dtype: Any = None, encoding: str = "utf-8",
             allow_nonfinite: bool = False) -> TensorDataset:
    """Read a CSV of numbers into ``TensorDataset(features, labels)``.

    ``label_column``: index (negative counts from the end) or header name of the label column,
    or None for features only. ``header``: True, False or "infer" (the first row is a header
    when any of its cells is not a number). ``label_dtype``: "auto" (int64 when every label is a
    whole number, else float32) or a dtype. Features get ``dtype`` (default float32). Blank
    lines are skipped. Non-finite cells (nan, inf, 1e999) are refused unless
    ``allow_nonfinite=True``. The dataset's ``source_lines`` lists each row's line in the file.
    """
    path = Path(path)
    where = f"load_csv: {path}"
    with open(path, newline="", encoding=encoding) as f:
        reader = csv.reader(f, delimiter=delimiter)
        rows, lines = [], []
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append(row)
                lines.append(reader.line_num)
    if not rows:
        raise ValueError(f"{where}: the file has no rows")
    if header == "infer":
        header = not all(_is_number(c) for c in rows[0])
    names = [c.strip() for c in rows[0]] if header else None
    if header:
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise ValueError(f"{where}: the file has a header but no data rows")
    width = len(names) if names else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            first = "the header" if names else f"line {lines[0]}"
            raise ValueError(f"{where} line {line} has {len(row)} fields; expected {width} "
                             f"like {first}")

    def column_name(j: int) -> str:
        return f"{j + 1} ({names[j]!r})" if names else str(j + 1)

    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError:
        for row, line in zip(rows, lines):
            for j, cell in enumerate(row):
                if not _is_number(cell):
                    what = "is empty" if not cell.strip() else f"{cell!r} is not a number"
                    raise ValueError(f"{where} line {line}, column {column_name(j)}: {what}; "
                                     "expected numbers only (encode categories as numbers "
                                     "first)") from None
        raise
    if not allow_nonfinite and not np.isfinite(table).all():
        i, j = (int(k[0]) for k in np.nonzero(~np.isfinite(table)))
        raise ValueError(f"{where} line {lines[i]}, column {column_name(j)}: "
                         f"{rows[i][j].strip()!r} is not a finite number; expected finite numbers "
                         "(pass allow_nonfinite=True, or --allow-nonfinite, to keep nan/inf)")
    if label_column is None:
        return _with_lines(TensorDataset(table.astype(_float(dtype))), lines)
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            raise ValueError(f"{where}: no column named {label_column!r}; the columns are "
                             f"{names if names else 'unnamed (the file has no header)'}")
        j = names.index(label_column)
    else:
        if not -width <= label_column < width:
            raise ValueError(f"{where}: label_column={label_column} but the file has {width} "
                             "columns")
        j = label_column % width
    if width < 2:
        raise ValueError(f"{where}: only one column, the label; expected feature columns too")
    features = np.delete(table, j, axis=1).astype(_float(dtype))
    return _with_lines(TensorDataset(features, _labels(table[:, j], label_dtype, where, lines,
                                                       column_name(j))), lines)


def _with_lines(ds: TensorDataset, lines: list[int]) -> TensorDataset:
    ds.source_lines = list(lines)  # type: ignore[attr-defined]
    return ds


def _float(dtype: Any) -> np.dtype:
    dt = get_default_dtype() if dtype is None else to_dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"load: dtype {dt} is not floating; expected e.g. cr.float32")
    return dt


def load_npz(path: str | os.PathLike, x_key: str | None = None, y_key: str | None = None,
             labels: bool = True, dtype: Any = None,
             allow_nonfinite: bool = False) -> TensorDataset:
    """Read arrays from an ``.npz`` archive into ``TensorDataset(x, y)``.

    ``x_key`` defaults to "x" or else "X", ``y_key`` to "y" or else "Y"; ``labels=False`` reads
    features only. Features become ``dtype`` (default float32); integer or bool labels int64,
    float labels float32. Opened with ``allow_pickle=False``: object arrays are refused.
    Non-finite values (nan, inf) are refused, naming the sample, unless ``allow_nonfinite``.
    """
    path = Path(path)
    where = f"load_npz: {path}"
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as e:  # a pickle file
        raise ValueError(f"{where}: {e}; chainrule never unpickles data: save plain numeric "
                         "arrays with np.savez") from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{where}: not a readable .npz archive ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{where}: holds a single array (an .npy file); expected an .npz "
                         "archive with np.savez(path, x=..., y=...)")
    with archive:
        keys = list(archive.files)

        def pick(key: str | None, defaults: tuple[str, str], what: str) -> np.ndarray:
            if key is None:
                key = next((k for k in defaults if k in keys), None)
                if key is None:
                    raise ValueError(f"{where}: no array named {defaults[0]!r} or {defaults[1]!r} "
                                   f"for the {what}; the archive has {keys} (pass "
                                   f"{what[0]}_key=...)")
            elif key not in keys:
                raise ValueError(f"{where}: no array named {key!r}; the archive has {keys}")
            try:
                arr = archive[key]
            except ValueError as e:
                raise ValueError(f"{where}: array {key!r}: {e}; chainrule never unpickles "
                                 "data: store numeric arrays") from None
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{where}: array {key!r} has dtype {arr.dtype}; expected "
                                "numbers")
            if arr.dtype.kind == "f" and not allow_nonfinite and not np.isfinite(arr).all():
                at = tuple(int(k[0]) for k in np.nonzero(~np.isfinite(arr)))
                raise ValueError(f"{where}: array {key!r} holds {arr[at]} at index {at} (sample "
                                 f"{at[0] if at else 0}); expected finite numbers (pass "
                                 "allow_nonfinite=True, or --allow-nonfinite, to keep nan/inf)")
            return arr

        x = pick(x_key, ("x", "X"), "x (features)").astype(_float(dtype))
        if not labels:
            return TensorDataset(x)
        y = pick(y_key, ("y", "Y"), "y (labels)")
    y = y.astype(np.int64) if y.dtype.kind in "biu" else y.astype(np.float32)
    return TensorDataset(x, y)

