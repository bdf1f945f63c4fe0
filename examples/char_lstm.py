"""A character-level LSTM that learns to write like its training text, then samples from it.

Run: ``python examples/char_lstm.py [--steps 300] [--data FILE] [--framework chainrule|torch|both]``

The model reads characters as ids, embeds them, runs an ``nn.LSTM`` over a window of
``--seq`` characters and predicts the next character at every position (cross-entropy). It is
trained with Adam by backpropagation through time over each window, gradients clipped to norm
1. Every ``--print-every`` steps it prints the training loss; at the end it prints a sample,
generated one character at a time from the model's own predictions.

The model and training loop are written once, against a module ``lib`` that is either
``chainrule`` or ``torch``: the same PyTorch code runs on both, with only the import changed.
``--framework both`` trains the two in turn from the same data and prints the time per step of
each (1 thread;
set OMP_NUM_THREADS to change it). Default data: the first 64 KB of tiny Shakespeare, vendored in
``examples/data/`` (see its NOTICE); ``--data /work/shared/data/tinyshakespeare.txt`` for all of
it. Results and a loss curve: docs/rnn.md.
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")  # one BLAS thread (timing), before NumPy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "tinyshakespeare_64k.txt"


def build_model(lib: Any, vocab: int, embed: int, hidden: int, layers: int) -> Any:
    nn = lib.nn

    class CharLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, ids: Any, state: Any = None) -> tuple[Any, Any]:
            out, state = self.lstm(self.embed(ids), state)  # out: (B, T, hidden)
            return self.head(out), state                     # logits: (B, T, vocab)

    return CharLSTM()


def sample(lib: Any, model: Any, stoi: dict, itos: list, prime: str, length: int,
           temperature: float, rng: np.random.Generator) -> str:
    """Feed ``prime``, then draw ``length`` characters one at a time, carrying the state."""
    model.eval()
    out = prime
    with lib.no_grad():
        ids = lib.tensor([[stoi[c] for c in prime]])
        logits, state = model(ids)
        for _ in range(length):
            p = (logits[0, -1] / temperature).softmax(-1).numpy().astype(np.float64)
            i = int(rng.choice(len(p), p=p / p.sum()))
            out += itos[i]
            logits, state = model(lib.tensor([[i]]), state)
    model.train()
    return out


def train(lib: Any, text: str, a: argparse.Namespace) -> dict:
    """Train one model with ``lib``; returns its losses, time per step and a sample."""
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    lib.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    model = build_model(lib, len(chars), a.embed, a.hidden, a.layers)
    opt = lib.optim.Adam(model.parameters(), lr=a.lr)
    losses, seconds = [], []
    for step in range(1, a.steps + 1):
        starts = rng.integers(0, len(data) - a.seq - 1, a.batch)
        window = np.stack([data[s:s + a.seq + 1] for s in starts])
        x, y = lib.tensor(window[:, :-1]), lib.tensor(window[:, 1:])
        t0 = time.perf_counter()
        logits, _ = model(x)
        loss = lib.nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seconds.append(time.perf_counter() - t0)
        losses.append(loss.item())
        if step % a.print_every == 0 or step == a.steps:
            recent = statistics.mean(losses[-a.print_every:])
            print(f"[{lib.__name__}] step {step:5d}  loss {recent:.3f}  "
                  f"({1e3 * statistics.median(seconds[-a.print_every:]):.0f} ms/step)",
                  flush=True)
    text_out = sample(lib, model, stoi, chars, a.prime, a.sample_len, a.temperature,
                      np.random.default_rng(a.seed))
    return {"losses": losses, "ms_per_step": 1e3 * statistics.median(seconds[min(3, len(
        seconds) - 1):]), "sample": text_out}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="a UTF-8 text file")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seq", type=int, default=64, help="characters per training window")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-every", type=int, default=50)
    ap.add_argument("--prime", default="ROMEO:")
    ap.add_argument("--sample-len", type=int, default=300)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--framework", choices=("chainrule", "torch", "both"), default="chainrule")
    ap.add_argument("--curve", default="", help="write the loss curve(s) to this PNG")
    a = ap.parse_args(argv)
    text = Path(a.data).read_text(encoding="utf-8")
    print(f"{a.data}: {len(text):,} characters, {len(set(text))} distinct; LSTM(embed {a.embed},"
          f" hidden {a.hidden}, layers {a.layers}), windows of {a.seq} x batch {a.batch}")
    results = {}
    names = ["chainrule", "torch"] if a.framework == "both" else [a.framework]
    for name in names:
        lib = __import__(name)
        if name == "torch":
            lib.set_num_threads(1)
        results[name] = r = train(lib, text, a)
        print(f"\n[{name}] sample:\n{r['sample']}\n")
    print("| framework | final loss (mean of last 50) | ms per step (median) |")
    print("|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {statistics.mean(r['losses'][-50:]):.3f} | {r['ms_per_step']:.0f} |")
    if a.curve:
        plot_curves(results, a.curve)
    return results


def plot_curves(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    for name, r in results.items():
        losses = np.array(r["losses"])
        k = min(20, len(losses))
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(losses) + 1), smooth, label=f"{name} ({r['ms_per_step']:.0f} "
                "ms/step)")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"cross-entropy (nats/char, mean of {k})")
    ax.set_title("char-level LSTM on tiny Shakespeare")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
