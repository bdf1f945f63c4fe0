"""The loss curve of a run as a PNG (needs matplotlib: ``pip install chainrule[plot]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT_HINT = "the loss-curve PNG needs matplotlib: pip install chainrule[plot]"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_history(history: Any, path: str | Path, title: str = "") -> Path:
    """Loss (left) and accuracy (right, when logged) per epoch, for every logged set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    h = history.history
    epochs = history.epoch
    accs = [k for k in h if k.endswith("accuracy") and not k.startswith("top")]
    losses = [k for k in h if k == "loss" or k.endswith("_loss")]
    fig, axes = plt.subplots(1, 2 if accs else 1, figsize=(10 if accs else 5.5, 4),
                             squeeze=False)
    for ax, keys, label in ((axes[0][0], losses, "loss"),
                            *(((axes[0][1], accs, "accuracy"),) if accs else ())):
        for k in keys:
            pts = [(e, v) for e, v in zip(epochs, h[k]) if v is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3,
                        label="train" if "_" not in k else k.split("_")[0])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
