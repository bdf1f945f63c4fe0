"""``chainrule export CKPT OUT.onnx``: a checkpoint's model as an ONNX file (needs the ``onnx``
package: ``pip install 'chainrule[onnx]'``).

The graph takes ``input`` (batch, features) float32 rows prepared as for ``chainrule predict``
(integer pixels divided by ``pixel_scale``, then standardised by ``mean``/``scale`` when the
training data was); those numbers are stored in the file's metadata (``chainrule.*`` keys). The
batch dimension is dynamic. With onnxruntime installed, the file is run once on random rows and
the largest difference from chainrule's output is printed.

    chainrule export runs/digits/model.ckpt digits.onnx
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from chainrule.cli.common import CLIError, say
from chainrule.cli.evaluate import load_model

HELP = "write a checkpoint's model as an ONNX file"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help=HELP, description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", metavar="CKPT", help="a model.ckpt written by chainrule train")
    p.add_argument("output", metavar="OUT", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=None, metavar="N",
                   help="ONNX opset version (default 17)")
    p.add_argument("--static-batch", type=int, default=None, metavar="N",
                   help="fix the batch size to N instead of a dynamic batch dimension")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        import onnx
    except ImportError:
        raise CLIError("chainrule export needs the onnx package: pip install "
                       "'chainrule[onnx]'") from None
    from chainrule.onnx import UnsupportedOperatorError, export

    model, meta, _ = load_model(args.checkpoint)
    if not meta["arch"].get("sizes"):
        raise CLIError(f"the checkpoint's model ({meta['arch'].get('name')}) does not start with "
                       "a Linear layer, so its input shape is unknown; export it from Python "
                       "(chainrule.onnx.export(model, example_input, path))")
    n_in = int(meta["arch"]["sizes"][0])
    batch = args.static_batch or 2
    if batch < 1:
        raise CLIError(f"--static-batch: must be >= 1, got {batch}")
    x = np.random.default_rng(0).standard_normal((batch, n_in)).astype(np.float32)
    dyn = None if args.static_batch else {"input": {0: "batch"}, "output": {0: "batch"}}
    try:
        proto = export(model, (x,), None, input_names=["input"], output_names=["output"],
                       dynamic_axes=dyn, opset_version=args.opset)
    except (UnsupportedOperatorError, ValueError) as e:
        raise CLIError(f"cannot export {args.checkpoint}: {e}") from None
    info = meta.get("data") or {}
    extra = {"chainrule.arch": meta["arch"], "chainrule.dataset": info.get("name"),
             "chainrule.pixel_scale": info.get("pixel_scale"),
             "chainrule.mean": info.get("mean"), "chainrule.scale": info.get("scale"),
             "chainrule.classes": info.get("classes")}
    onnx.helper.set_model_props(proto, {k: json.dumps(_plain(v)) for k, v in extra.items()})
    onnx.checker.check_model(proto, full_check=True)
    try:
        onnx.save(proto, args.output)
    except OSError as e:
        raise CLIError(f"cannot write {args.output}: {e}") from None
    line = (f"wrote {args.output}: {len(proto.graph.node)} nodes, opset "
            f"{proto.opset_import[0].version}, input (batch, {n_in}) float32")
    say(line + _agreement(model, args.output, n_in, args.static_batch))
    return 0


def _plain(v: Any) -> Any:
    return v.tolist() if isinstance(v, np.ndarray) else v


def _agreement(model: Any, path: str, n_in: int, batch: int | None) -> str:
    """Run the file in onnxruntime (when installed) beside chainrule."""
    try:
        import onnxruntime as ort
    except ImportError:
        return "; onnxruntime not installed, not run"
    from chainrule.autograd.factories import tensor
    from chainrule.autograd.grad_mode import no_grad

    x = np.random.default_rng(1).standard_normal((batch or 37, n_in)).astype(np.float32)
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    with no_grad():
        want = model(tensor(x)).numpy()
    rel = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-30))
    return (f"; onnxruntime on {len(x)} random rows agrees with chainrule to "
            f"{rel:.1e} (max |difference| / max |output|)")
