"""Seeing attention learn: a one-layer transformer encoder learns to reverse a sequence.

Run: ``python examples/attention_reverse.py --out attention_reverse.png`` (about a minute on one
core). Each example is ``--length`` letters drawn from ``--vocab`` symbols; the target at
position i is the letter at position L-1-i. Token and learned position embeddings go into one
``nn.TransformerEncoderLayer`` (a ``MultiheadAttention`` with ``--heads`` heads, then a
feed-forward layer) and a linear head over the letters. Nothing but attention moves information
between positions, so to answer at position i the model must look at position L-1-i: after
training, ``chainrule.viz.plots.plot_attention`` shows each head's weights (rows: queries,
columns: keys) concentrated on the anti-diagonal. The picture is in docs/training_pictures.md;
``python docs/make_images.py`` regenerates it through this script.
"""

from __future__ import annotations

import argparse
import string

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.viz.plots import attention_maps, plot_attention


class Reverser(nn.Module):
    """Embeddings of letters and positions, one encoder layer, a linear head per position."""

    def __init__(self, vocab: int, length: int, d_model: int, heads: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(length, d_model)
        self.encoder = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout=0.0,
                                                  batch_first=True)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        positions = cr.arange(x.shape[1])
        return self.head(self.encoder(self.tok(x) + self.pos(positions)))


def batch(rng: np.random.Generator, n: int, length: int, vocab: int
          ) -> tuple[cr.Tensor, cr.Tensor]:
    """``n`` random sequences (int64, (n, length)) and their reversals."""
    x = rng.integers(0, vocab, size=(n, length))
    return cr.from_numpy(x), cr.from_numpy(np.ascontiguousarray(x[:, ::-1]))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, draw, and return the held-out accuracy and the mean attention weight (over the
    sample's heads and queries) on the anti-diagonal key."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="attention_reverse.png", help="the PNG to write")
    ap.add_argument("--before", metavar="PNG", default=None,
                    help="also draw the untrained model's attention on the same input")
    ap.add_argument("--length", type=int, default=10)
    ap.add_argument("--vocab", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    cr.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Reverser(args.vocab, args.length, args.d_model, args.heads)
    sample, _ = batch(np.random.default_rng(args.seed + 1), 1, args.length, args.vocab)
    letters = string.ascii_lowercase[:args.vocab]
    tokens = [f"{i}:{letters[t]}" for i, t in enumerate(sample.numpy()[0])]
    if args.before:
        before = plot_attention(model, sample, path=args.before, tokens=tokens,
                                title="before training: attention per head")
        print(f"saved {before}")
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    for step in range(1, args.steps + 1):
        x, y = batch(rng, args.batch_size, args.length, args.vocab)
        loss = F.cross_entropy(model(x).reshape(-1, args.vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")

    model.eval()
    x, y = batch(np.random.default_rng(args.seed + 2), 1000, args.length, args.vocab)
    with cr.no_grad():
        acc = float((model(x).argmax(-1).numpy() == y.numpy()).mean())
    print(f"held-out accuracy (1000 new sequences, per position): {acc:.3f}")

    path = plot_attention(model, sample, path=args.out, tokens=tokens,
                          title=f"reverse {args.length} letters: attention per head "
                                f"(accuracy {acc:.3f})")
    print(f"saved {path}")
    weights = attention_maps(model, sample)["encoder.self_attn"][0]  # (heads, L, L)
    anti = float(weights[:, np.arange(args.length), np.arange(args.length)[::-1]].mean())
    print(f"mean attention on the anti-diagonal: {anti:.3f}")
    return {"accuracy": acc, "anti_diagonal": anti}


if __name__ == "__main__":
    main()
