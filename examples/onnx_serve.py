"""Serve a model trained by ``chainrule train`` with onnxruntime, and check it agrees.

    chainrule train --out runs/digits                          # the MLP on the bundled digits
    chainrule export runs/digits/model.ckpt runs/digits/model.onnx
    python examples/onnx_serve.py runs/digits/model.onnx --checkpoint runs/digits/model.ckpt

    chainrule train --model cnn --out runs/cnn                # a CNN: the same three steps

The server side needs only NumPy and onnxruntime: the file holds the graph and the weights, and
its metadata says how the inputs were prepared (standardisation). The checkpoint is read only
to compare: the same test split through chainrule, the largest relative difference of the
outputs and whether every predicted class agrees.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np


def serve(onnx_path: str) -> tuple[Any, dict[str, Any]]:
    """An onnxruntime session and the preprocessing stored by ``chainrule export``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    meta = {k.removeprefix("chainrule."): json.loads(v)
            for k, v in sess.get_modelmeta().custom_metadata_map.items()}
    return sess, meta


def prepare(x: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    x = x.astype(np.float32)
    if meta.get("mean") is not None:
        x = (x - np.asarray(meta["mean"], np.float32)) / np.asarray(meta["scale"], np.float32)
    return x


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx", help="a file written by `chainrule export`")
    ap.add_argument("--checkpoint", help="the model.ckpt it came from, to compare outputs")
    args = ap.parse_args(argv)

    from chainrule.cli import datasets as D

    sess, meta = serve(args.onnx)
    data = D.load(meta.get("dataset") or "digits")
    x_raw, y = D.materialize(data.test)
    x = prepare(x_raw, meta)
    t0 = time.perf_counter()
    out = sess.run(None, {"input": x})[0]
    ms = (time.perf_counter() - t0) * 1e3
    pred = out.argmax(1)
    acc = float((pred == y).mean())
    print(f"onnxruntime: {len(x)} test samples in {ms:.2f} ms, accuracy {acc:.4f}")
    result: dict[str, Any] = {"n": len(x), "accuracy": acc, "ms": ms}
    if args.checkpoint:
        import chainrule as cr
        from chainrule.cli.evaluate import load_model

        model, _, _ = load_model(args.checkpoint)
        with cr.no_grad():
            want = model(cr.tensor(x)).numpy()
        rel = float(np.abs(out - want).max() / np.abs(want).max())
        same = float((want.argmax(1) == pred).mean())
        print(f"chainrule:   accuracy {float((want.argmax(1) == y).mean()):.4f}; largest "
              f"|onnxruntime - chainrule| / max|output| = {rel:.1e}; same class for "
              f"{same:.0%} of samples")
        result.update(rel=rel, same_class=same)
    return result


if __name__ == "__main__":
    main()
