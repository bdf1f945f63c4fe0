"""``cr.utils.tensorboard.SummaryWriter``, as ``torch.utils.tensorboard``: writes TensorBoard
event files (scalars, scalar groups, histograms, images, text) with the ``tensorboard`` package's
own writer and protocol buffers, so ``tensorboard --logdir runs`` shows them.

The ``tensorboard`` package is optional: without it, ``SummaryWriter(...)`` raises an
ImportError that says ``pip install tensorboard``. ``add_graph`` and ``add_hparams`` refuse
(no TorchScript graph here; see ``cr.viz.draw`` for a picture of the graph).
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime
from typing import Any

import numpy as np

__all__ = ["SummaryWriter"]


def _tb() -> Any:
    """The tensorboard modules the writer needs, or a clear ImportError."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
        from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError(
            "cr.utils.tensorboard.SummaryWriter writes TensorBoard event files with the "
            f"tensorboard package, which is not installed ({e}); pip install tensorboard") from None
    return event_pb2, summary_pb2, TensorProto, TensorShapeProto, TextPluginData, EventFileWriter


def _array(value: Any) -> np.ndarray:
    """A NumPy array of a tensor (detached), an array or a number."""
    detach = getattr(value, "detach", None)
    if detach is not None:
        value = detach().numpy()
    return np.asarray(value)


def _scalar(value: Any) -> float:
    a = _array(value)
    if a.size != 1:
        raise ValueError(f"add_scalar: expected a scalar (one element), got shape {a.shape}")
    return float(a.reshape(()))


def _default_bins() -> np.ndarray:
    """TensorFlow's histogram buckets: +-1e-12 * 1.1^k up to 1e20, and 0."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return np.array([-b for b in reversed(pos)] + [0.0] + pos)


def _png(img: np.ndarray) -> bytes:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("SummaryWriter.add_image encodes PNG with Pillow, which is not "
                          "installed; pip install pillow") from None
    import io

    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[2] == 1 else img).save(buf, format="PNG")
    return buf.getvalue()


def _hwc(img: np.ndarray, dataformats: str) -> np.ndarray:
    """An image as (H, W, C) uint8, from ``dataformats`` ("CHW", "HWC", "HW"), floats in [0, 1]
    scaled by 255 (as PyTorch's writer does)."""
    fmt = dataformats.upper()
    if img.ndim != len(fmt):
        raise ValueError(f"add_image: dataformats={dataformats!r} needs a {len(fmt)}-D image, "
                         f"got shape {img.shape}")
    if fmt == "HW":
        img = img[..., None]
    else:
        img = img.transpose([fmt.index(c) for c in "HWC"])
    if img.shape[2] == 1 or img.shape[2] in (3, 4):
        pass
    else:
        raise ValueError(f"add_image: expected 1, 3 or 4 channels, got {img.shape[2]}")
    if img.dtype.kind == "f":
        img = np.clip(img * 255.0, 0, 255).round()
    return img.astype(np.uint8)


class SummaryWriter:
    """Write TensorBoard event files in ``log_dir`` (default ``runs/<time>_<host><comment>``),
    as ``torch.utils.tensorboard.SummaryWriter``: ``add_scalar``, ``add_scalars``,
    ``add_histogram``, ``add_image``, ``add_text``, ``flush``, ``close``; a context manager."""

    def __init__(self, log_dir: str | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        self._pb = _tb()
        if not log_dir:
            current = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current + "_" + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self.purge_step, self.max_queue, self.flush_secs = purge_step, max_queue, flush_secs
        self.filename_suffix = filename_suffix
        self._writers: dict[str, Any] = {}
        self._writer(self.log_dir)

    def _writer(self, log_dir: str) -> Any:
        w = self._writers.get(log_dir)
        if w is None:
            w = self._writers[log_dir] = self._pb[5](log_dir, self.max_queue, self.flush_secs,
                                                     self.filename_suffix)
        return w

    def _add(self, summary: Any, global_step: int | None, walltime: float | None,
             log_dir: str | None = None) -> None:
        event = self._pb[0].Event(summary=summary,
                                  wall_time=time.time() if walltime is None else walltime)
        if global_step is not None:
            event.step = int(global_step)
        self._writer(log_dir or self.log_dir).add_event(event)

    def get_logdir(self) -> str:
        """The directory the event files go to."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """One point of the curve ``tag``."""
        s = self._pb[1].Summary
        self._add(s(value=[s.Value(tag=tag, simple_value=_scalar(scalar_value))]), global_step,
                  walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict[str, Any],
                    global_step: int | None = None, walltime: float | None = None) -> None:
        """Several curves on one chart: each in its own run directory
        ``<log_dir>/<main_tag>_<tag>``, under the tag ``main_tag`` (PyTorch's layout)."""
        s = self._pb[1].Summary
        for tag, value in tag_scalar_dict.items():
            run = os.path.join(self.log_dir, f"{main_tag}_{tag}".replace("/", "_"))
            self._add(s(value=[s.Value(tag=main_tag, simple_value=_scalar(value))]),
                      global_step, walltime, run)

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None,
                      bins: Any = "tensorflow", walltime: float | None = None,
                      max_bins: int | None = None) -> None:
        """The distribution of ``values`` (``bins``: "tensorflow" for TensorFlow's exponential
        buckets, or anything ``numpy.histogram`` takes)."""
        v = _array(values).astype(np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError("add_histogram: the input has no element")
        counts, limits = np.histogram(v, bins=_default_bins() if bins == "tensorflow" else bins)
        nonzero = np.cumsum(counts > 0)
        start, end = np.searchsorted(nonzero, [0, nonzero[-1] - 1], side="right")
        start, end = int(start), int(end) + 1
        counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
        limits = limits[start:end + 1]
        hist = self._pb[1].HistogramProto(
            min=float(v.min()), max=float(v.max()), num=int(v.size), sum=float(v.sum()),
            sum_squares=float(v @ v), bucket_limit=limits.tolist(), bucket=counts.tolist())
        s = self._pb[1].Summary
        self._add(s(value=[s.Value(tag=tag, histo=hist)]), global_step, walltime)

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None,
                  walltime: float | None = None, dataformats: str = "CHW") -> None:
        """An image (floats in [0, 1] or uint8), laid out as ``dataformats``."""
        img = _hwc(_array(img_tensor), dataformats)
        s = self._pb[1].Summary
        image = s.Image(height=img.shape[0], width=img.shape[1], colorspace=img.shape[2],
                        encoded_image_string=_png(img))
        self._add(s(value=[s.Value(tag=tag, image=image)]), global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """A piece of text (markdown) for the Text tab."""
        _, summary_pb2, tensor_proto, shape_proto, text_data, _ = self._pb
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="text", content=text_data(version=0).SerializeToString()))
        tensor = tensor_proto(dtype="DT_STRING", string_val=[text_string.encode("utf-8")],
                              tensor_shape=shape_proto(dim=[shape_proto.Dim(size=1)]))
        s = summary_pb2.Summary
        self._add(s(value=[s.Value(tag=tag + "/text_summary", metadata=meta, tensor=tensor)]),
                  global_step, walltime)

    def add_graph(self, model: Any, input_to_model: Any = None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """Refuses: PyTorch traces the model to TorchScript for this, which chainrule has not;
        ``cr.viz.draw`` draws the graph of a loss instead."""
        raise NotImplementedError(
            "SummaryWriter.add_graph: chainrule has no TorchScript trace to send to TensorBoard; "
            "draw the graph with cr.viz.draw(loss) (or export ONNX with cr.onnx.export and open "
            "it in Netron)")

    def add_hparams(self, hparam_dict: dict, metric_dict: dict, hparam_domain_discrete: Any = None,
                    run_name: str | None = None, global_step: int | None = None) -> None:
        """Refuses: the hyperparameter plugin's records are not written by chainrule; log the
        metrics with ``add_scalar`` and the hyperparameters with ``add_text``."""
        raise NotImplementedError(
            "SummaryWriter.add_hparams is not supported by chainrule's writer; log the metrics "
            "with add_scalar and the hyperparameters with add_text(str(hparam_dict))")

    def flush(self) -> None:
        """Write what is queued to disk."""
        for w in self._writers.values():
            w.flush()

    def close(self) -> None:
        """Flush and close the event files."""
        for w in self._writers.values():
            w.flush()
            w.close()
        self._writers = {}

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
