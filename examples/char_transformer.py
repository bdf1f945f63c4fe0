"""A tiny GPT: a character-level transformer that trains on a text file and then writes more of it.

Run: ``python examples/char_transformer.py --steps 300`` (Shakespeare by default). Add ``--torch``
to run the very same code with PyTorch: below the import block this file is a PyTorch script,
with ``chainrule`` imported under the name ``torch``. The model is the decoder-only transformer
of "Attention Is All You Need" as a student writes it: token and position embeddings, blocks of
causal self-attention (a lower-triangular mask from ``tril``, ``masked_fill`` with -inf, then
softmax) and a feed-forward layer, each with a residual connection and pre-LayerNorm, and a linear
head over the characters. Generation samples one character at a time with ``multinomial``.

``--log FILE`` writes the losses, time per step and sample as JSON; ``--plot PNG LOG [LOG ...]``
draws the loss curves of earlier runs (docs/transformer.md shows how).

``--moe E`` (chainrule only) makes it a sparse mixture-of-experts transformer: each block's
feed-forward layer becomes ``nn.MixtureOfExperts`` with E MLP experts; each token goes to
``--moe-k`` of them (default 2) whose hidden sizes add up to the dense layer's ``4 * n_embd``, so a
token uses as many feed-forward parameters as in the dense model. The experts' balance loss times
``--balance-weight`` is added to the loss; the log records each expert's share of the
assignments (docs/moe.md compares the two).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

if "--torch" in sys.argv:
    import torch
    from torch import nn
    from torch.nn import functional as F
else:
    import chainrule as torch  # the rest of the file is a PyTorch script
    from chainrule import nn
    from chainrule.nn import functional as F

HERE = Path(__file__).resolve().parent
# the full corpus (1.1 MB) where the project's shared data is, else the 100 KB slice shipped here
CORPUS = [p / "shared" / "data" / "tinyshakespeare.txt" for p in HERE.parents[1:4]]
DEFAULT_TEXT = next((p for p in CORPUS if p.exists()), HERE / "data" / "tinyshakespeare_head.txt")


class Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, n_embd: int, head_size: int, block_size: int, dropout: float) -> None:
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        T = x.shape[1]
        k = self.key(x)    # (B, T, hs)
        q = self.query(x)  # (B, T, hs)
        # attention scores: how much each position attends to each earlier one
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5           # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # no looking ahead
        wei = F.softmax(wei, dim=-1)
        wei = self.dropout(wei)
        return wei @ self.value(x)                                     # (B, T, hs)


class MultiHeadAttention(nn.Module):
    """Several heads side by side, then a projection back to the residual stream."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float) -> None:
        super().__init__()
        head_size = n_embd // n_head
        self.heads = nn.ModuleList([Head(n_embd, head_size, block_size, dropout)
                                    for _ in range(n_head)])
        self.proj = nn.Linear(n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class FeedForward(nn.Module):
    def __init__(self, n_embd: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(),
                                 nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class MoEFeedForward(nn.Module):
    """The feed-forward layer as a sparse mixture of experts (chainrule's nn.MixtureOfExperts):
    ``n_experts`` MLPs, each token through the best ``k`` of them (gate-weighted), each expert
    ``4 * n_embd // k`` wide, so a token meets as many weights as in ``FeedForward``."""

    def __init__(self, n_embd: int, dropout: float, n_experts: int, k: int) -> None:
        super().__init__()
        self.moe = nn.MixtureOfExperts(n_experts, n_embd, k=k, hidden=4 * n_embd // k)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.moe(x))


class Block(nn.Module):
    """Communication (attention) then computation (feed-forward), pre-norm residuals."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float,
                 moe: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.sa = MultiHeadAttention(n_embd, n_head, block_size, dropout)
        self.ffwd = FeedForward(n_embd, dropout) if moe is None else \
            MoEFeedForward(n_embd, dropout, *moe)
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size: int, n_embd: int, n_head: int, n_layer: int,
                 block_size: int, dropout: float, moe: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[Block(n_embd, n_head, block_size, dropout, moe)
                                      for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)                  # (B, T, C)
        pos_emb = self.position_embedding_table(torch.arange(T))   # (T, C)
        x = self.blocks(tok_emb + pos_emb)
        logits = self.lm_head(self.ln_f(x))                        # (B, T, vocab_size)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.block_size:])
            probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)  # (B, vocab_size)
            idx_next = torch.multinomial(probs, num_samples=1)          # (B, 1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", type=Path, default=DEFAULT_TEXT,
                    help="a UTF-8 text file (default: tiny Shakespeare)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block-size", type=int, default=64, help="context length")
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--sample-chars", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--torch", action="store_true", help="run the same code with PyTorch")
    ap.add_argument("--log", type=Path, help="write losses, time per step and sample (JSON)")
    ap.add_argument("--moe", type=int, default=0, metavar="E",
                    help="feed-forward layers as a mixture of E experts (chainrule only)")
    ap.add_argument("--moe-k", type=int, default=2, help="experts per token (with --moe)")
    ap.add_argument("--balance-weight", type=float, default=0.01,
                    help="weight of the experts' balance loss (with --moe)")
    a = ap.parse_args()
    if a.torch:
        if a.moe:
            ap.error("--moe uses chainrule's nn.MixtureOfExperts (torch.nn has none): "
                     "drop --torch")
        torch.set_num_threads(a.threads)

    text = a.text.read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = dict(enumerate(chars))
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    train_data, val_data = data[:n], data[n:]

    torch.manual_seed(a.seed)

    def get_batch(split: str):
        d = train_data if split == "train" else val_data
        ix = torch.randint(0, len(d) - a.block_size, (a.batch_size,))
        x = torch.stack([d[i:i + a.block_size] for i in ix.tolist()])
        y = torch.stack([d[i + 1:i + a.block_size + 1] for i in ix.tolist()])
        return x, y

    @torch.no_grad()
    def estimate_loss(iters: int = 20) -> dict:
        model.eval()
        out = {split: statistics.mean(model(*get_batch(split))[1].item() for _ in range(iters))
               for split in ("train", "val")}
        model.train()
        return out

    model = GPT(len(chars), a.n_embd, a.n_head, a.n_layer, a.block_size, a.dropout,
                (a.moe, a.moe_k) if a.moe else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr)
    n_params = sum(p.numel() for p in model.parameters())
    name = "PyTorch" if a.torch else "chainrule"
    moes = [b.ffwd.moe for b in model.blocks] if a.moe else []
    # the parameters one token uses: all but the experts it is not sent to
    idle = sum((m.num_experts - m.k) * sum(p.numel() for p in m.experts[0].parameters())
               for m in moes)
    label = f"{name} MoE {a.moe} experts, k={a.moe_k}" if a.moe else name
    per_token = f" ({n_params - idle:,} per token)" if moes else ""
    print(f"{label}: {n_params:,} parameters{per_token}, {len(chars)} characters, "
          f"{len(text):,} of text")

    step_times, train_loss, aux_loss, evals = [], [], [], []
    load = [[0] * a.moe for _ in moes]  # assignments per expert over all of training
    for step in range(a.steps + 1):
        if step % a.eval_every == 0 or step == a.steps:
            losses = estimate_loss()
            util = [shares(m, total) for m, total in zip(moes, load)]
            evals.append({"step": step, **losses, **({"utilisation": util} if moes else {})})
            ms = 1e3 * statistics.median(step_times) if step_times else float("nan")
            shown = "".join(f", experts {u}" for u in util) if step else ""
            print(f"step {step:5d}: train {losses['train']:.4f}, val {losses['val']:.4f}"
                  f"  ({ms:.1f} ms/step){shown}")
        if step == a.steps:
            break
        t0 = time.perf_counter()
        xb, yb = get_batch("train")
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        if moes:
            balance = sum(m.aux_loss for m in moes) / len(moes)
            (loss + a.balance_weight * balance).backward()
        else:
            loss.backward()
        optimizer.step()
        step_times.append(time.perf_counter() - t0)
        train_loss.append(loss.item())
        if moes:
            aux_loss.append(balance.item())

    model.eval()
    context = torch.tensor([[stoi.get("\n", 0)]], dtype=torch.long)
    sample = "".join(itos[i] for i in model.generate(context, a.sample_chars)[0].tolist())
    print(sample)
    ms = 1e3 * statistics.median(step_times) if step_times else float("nan")
    print(f"{label}: median {ms:.1f} ms per training step (batch {a.batch_size} x "
          f"{a.block_size} characters, {a.threads} thread(s))")
    utilisation = [[round(c / max(sum(total), 1), 3) for c in total] for total in load]
    for i, u in enumerate(utilisation):
        print(f"block {i}: share of the assignments per expert over training {u}")
    if a.log:
        a.log.parent.mkdir(parents=True, exist_ok=True)
        a.log.write_text(json.dumps({
            "framework": name, "label": label, "args": {k: str(v) for k, v in vars(a).items()},
            "parameters": n_params, "active_parameters": n_params - idle, "ms_per_step": ms,
            "train_loss": train_loss, "balance_loss": aux_loss, "utilisation": utilisation,
            "evals": evals, "sample": sample}, indent=1))


def shares(moe, total: list[int]) -> list[float]:
    """Each expert's share of the assignments since the last call (then starts again),
    adding the counts to ``total``."""
    counts = moe.expert_load.tolist()
    for e, c in enumerate(counts):
        total[e] += c
    moe.reset_utilisation()
    return [round(c / max(sum(counts), 1), 3) for c in counts]


def plot(png: Path, logs: list[Path]) -> None:
    """Training loss (a running mean over 20 steps) and the validation loss of each log; with a
    mixture-of-experts log, a second panel: each expert's share of the assignments."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(path.read_text()) for path in logs]
    moe_runs = [r for r in runs if r.get("utilisation")]
    fig, axes = plt.subplots(1, 2 if moe_runs else 1, figsize=(12 if moe_runs else 7, 4),
                             squeeze=False)
    ax = axes[0, 0]
    for r, color in zip(runs, ("C0", "C1", "C2", "C3")):
        tl, name = r["train_loss"], r.get("label", r["framework"])
        w = 20
        smooth = [statistics.mean(tl[max(0, i - w + 1):i + 1]) for i in range(len(tl))]
        ax.plot(range(1, len(tl) + 1), smooth, color=color, alpha=0.8,
                label=f"{name} ({r['ms_per_step']:.0f} ms/step): train (mean of {w})")
        ax.plot([e["step"] for e in r["evals"]], [e["val"] for e in r["evals"]], "o--",
                color=color, label=f"{name}: validation")
    ax.set_xlabel("training step")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title("Tiny character-level transformer on tiny Shakespeare")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if moe_runs:
        ax = axes[0, 1]
        r = moe_runs[0]
        evals = [e for e in r["evals"] if e["step"] > 0]
        for b, style in zip(range(len(r["utilisation"])), ("-", "--", ":", "-.")):
            for e in range(len(r["utilisation"][b])):
                ax.plot([v["step"] for v in evals], [v["utilisation"][b][e] for v in evals],
                        style, color=f"C{e}", label=f"block {b}, expert {e}")
        ax.axhline(1 / len(r["utilisation"][0]), color="grey", lw=0.8)
        ax.set_xlabel("training step (share over the steps since the last point)")
        ax.set_ylabel("share of the assignments")
        ax.set_title(f"{r['label']}: expert utilisation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--plot":
        plot(Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
    else:
        main()
