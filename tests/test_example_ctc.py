"""examples/ctc_transcribe.py: a bidirectional GRU trained with CTCLoss learns to transcribe
noisy runs of symbols (brief settings; the full run is in docs/rnn.md)."""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path
from types import ModuleType

import numpy as np

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ctc_transcribe.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_example_ctc_transcribe", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_greedy_decoding_merges_repeats_and_drops_blanks() -> None:
    ex = _load()
    best = np.array([[0, 1, 1, 0, 1, 2, 2, 0], [3, 3, 3, 0, 3, 0, 0, 0]]).T  # (T, N)
    log_probs = np.log(np.eye(4)[best] * 0.9 + 0.025)
    assert ex.greedy_decode(log_probs, [8, 5]) == [[1, 1, 2], [3, 3]]
    assert ex.greedy_decode(log_probs, [3, 0]) == [[1], []]


def test_the_data_are_what_the_docstring_says() -> None:
    x, targets, lengths, labels = _load().make_batch(np.random.default_rng(0), 64, 4, 0.0)
    assert x.shape == (max(lengths), 64, 4) and x.dtype == np.float32
    for b, seq in enumerate(labels):
        assert 2 <= len(seq) <= 5 and targets[b, :len(seq)].tolist() == seq
        frames = x[:lengths[b], b]
        active = frames.argmax(1) + 1
        active[frames.max(1) == 0] = 0  # silent frames
        runs = [int(c) for i, c in enumerate(active) if c and (i == 0 or c != active[i - 1])]
        assert runs == seq  # equal neighbours are always split by silence
        assert (x[lengths[b]:, b] == 0).all()


def test_ctc_training_learns_to_transcribe() -> None:
    r = _load().main(["--steps", "150", "--test", "200", "--print-every", "0"])["chainrule"]
    first, last = statistics.mean(r["losses"][:10]), statistics.mean(r["losses"][-50:])
    assert first > 2.0 and last < first / 10, (first, last)  # measured 2.69 -> 0.104
    assert r["accuracy"] >= 0.8, r["accuracy"]                # measured 90.5%
