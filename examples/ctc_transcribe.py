"""A bidirectional GRU learns to transcribe noisy runs of symbols with CTC, decoded greedily.

Run: ``python examples/ctc_transcribe.py [--steps 300] [--framework chainrule|torch|both]``

The task: a label sequence of 2 to 5 symbols from {1, ..., K} becomes a sequence of frames. Each
symbol is a run of 2 to 4 frames of its one-hot vector, runs are separated by 0 to 2 silent
(all-zero) frames, at least one between two equal symbols (else "a a" and "a" would read the
same), and every frame gets Gaussian noise. The model never sees where a symbol starts or ends:
``nn.CTCLoss`` sums over every alignment of the label sequence with the frames.

Model: GRU(K, hidden, bidirectional) over the packed frames -> Linear(2 hidden, K + 1) ->
log_softmax (class 0 is CTC's blank). Greedy decoding: the most likely class per frame, repeats
merged, blanks dropped. Accuracy is the fraction of held-out sequences transcribed exactly.

The model and loop are written once against ``lib`` (``chainrule`` or ``torch``), as in
``char_lstm.py``; ``--framework both`` trains the same code on each from the same data (1 thread).
Results: docs/rnn.md.
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")  # one BLAS thread (timing), before NumPy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


def make_batch(rng: np.random.Generator, n: int, symbols: int,
               noise: float) -> tuple[np.ndarray, np.ndarray, list[int], list[list[int]]]:
    """``n`` sequences: frames (T, n, symbols) float32 zero-padded to the longest, the padded
    label matrix (n, 5), the frame counts and the label lists."""
    frames, labels = [], []
    for _ in range(n):
        seq = [int(s) for s in rng.integers(1, symbols + 1, rng.integers(2, 6))]
        rows: list[np.ndarray] = []
        for i, s in enumerate(seq):
            gap = int(rng.integers(0, 3))
            if i and seq[i - 1] == s:
                gap = max(gap, 1)
            rows += [np.zeros(symbols)] * gap
            rows += [np.eye(symbols)[s - 1]] * int(rng.integers(2, 5))
        rows += [np.zeros(symbols)] * int(rng.integers(0, 3))
        frames.append(np.array(rows) + noise * rng.standard_normal((len(rows), symbols)))
        labels.append(seq)
    lengths = [len(f) for f in frames]
    x = np.zeros((max(lengths), n, symbols), dtype=np.float32)
    for b, f in enumerate(frames):
        x[:len(f), b] = f
    targets = np.zeros((n, 5), dtype=np.int64)
    for b, seq in enumerate(labels):
        targets[b, :len(seq)] = seq
    return x, targets, lengths, labels


def build_model(lib: Any, symbols: int, hidden: int) -> Any:
    nn = lib.nn
    rnn_utils = nn.utils.rnn

    class Transcriber(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(symbols, hidden, bidirectional=True)
            self.head = nn.Linear(2 * hidden, symbols + 1)

        def forward(self, x: Any, lengths: list[int]) -> Any:
            packed = rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=False)
            out, _ = rnn_utils.pad_packed_sequence(self.gru(packed)[0], total_length=x.shape[0])
            return self.head(out).log_softmax(-1)  # (T, N, symbols + 1): CTC's log_probs

    return Transcriber()


def greedy_decode(log_probs: np.ndarray, lengths: list[int], blank: int = 0) -> list[list[int]]:
    """Best class per frame, repeats merged, blanks dropped (one list per batch item)."""
    best = log_probs.argmax(-1)  # (T, N)
    out = []
    for b, n in enumerate(lengths):
        path = best[:n, b]
        keep = np.r_[True, path[1:] != path[:-1]] & (path != blank)
        out.append([int(c) for c in path[keep]])
    return out


def train(lib: Any, a: argparse.Namespace) -> dict:
    """Train one model with ``lib``; returns the losses, the time per step and the held-out
    accuracy of greedy decoding."""
    lib.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    model = build_model(lib, a.symbols, a.hidden)
    opt = lib.optim.Adam(model.parameters(), lr=a.lr)
    ctc = lib.nn.CTCLoss(blank=0)
    losses, seconds = [], []
    start = time.perf_counter()
    for step in range(1, a.steps + 1):
        x, targets, lengths, labels = make_batch(rng, a.batch, a.symbols, a.noise)
        t0 = time.perf_counter()
        log_probs = model(lib.tensor(x), lengths)
        loss = ctc(log_probs, lib.tensor(targets), lengths, [len(s) for s in labels])
        opt.zero_grad()
        loss.backward()
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seconds.append(time.perf_counter() - t0)
        losses.append(loss.item())
        if a.print_every and (step % a.print_every == 0 or step == a.steps):
            print(f"[{lib.__name__}] step {step:4d}  CTC loss "
                  f"{statistics.mean(losses[-a.print_every:]):.3f}  "
                  f"({1e3 * statistics.median(seconds[-a.print_every:]):.0f} ms/step)",
                  flush=True)
    train_s = time.perf_counter() - start
    x, _, lengths, labels = make_batch(np.random.default_rng(a.seed + 1), a.test, a.symbols,
                                       a.noise)
    model.eval()
    with lib.no_grad():
        decoded = greedy_decode(model(lib.tensor(x), lengths).numpy(), lengths)
    model.train()
    accuracy = float(np.mean([d == s for d, s in zip(decoded, labels)]))
    return {"losses": losses, "seconds": train_s,
            "ms_per_step": 1e3 * statistics.median(seconds[min(3, len(seconds) - 1):]),
            "accuracy": accuracy, "examples": list(zip(labels[:3], decoded[:3]))}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--symbols", type=int, default=4, help="K: labels 1..K, blank 0")
    ap.add_argument("--noise", type=float, default=0.3, help="std of the noise on every frame")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--test", type=int, default=500, help="held-out sequences to decode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--print-every", type=int, default=50)
    ap.add_argument("--framework", choices=("chainrule", "torch", "both"), default="chainrule")
    a = ap.parse_args(argv)
    results = {}
    for name in ["chainrule", "torch"] if a.framework == "both" else [a.framework]:
        lib = __import__(name)
        if name == "torch":
            lib.set_num_threads(1)
        results[name] = r = train(lib, a)
        print(f"[{name}] e.g. " + "; ".join(f"{s} -> {d}" for s, d in r["examples"]))
    print("| framework | CTC loss (first 10 steps -> last 50) | greedy exact-match accuracy "
          f"({a.test} held out) | training time | ms per step |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {statistics.mean(r['losses'][:10]):.2f} -> "
              f"{statistics.mean(r['losses'][-50:]):.3f} | {100 * r['accuracy']:.1f}% | "
              f"{r['seconds']:.1f} s | {r['ms_per_step']:.0f} |")
    return results


if __name__ == "__main__":
    main()
