"""Thread choice (issue 13 item 12): 1 BLAS thread for small work, --threads to choose, the
choice printed, the process's pools restored afterwards."""

from __future__ import annotations

import pytest

from chainrule.cli import main as cli
from chainrule.train import Trainer
from chainrule.train.threads import (
    SMALL_WORK,
    auto_threads,
    current_blas_threads,
    limit_threads,
    matmul_work,
)


def test_auto_is_one_thread_for_small_work_and_more_for_large() -> None:
    digits = matmul_work([64, 256, 128, 10], 32)
    assert digits == 32 * (64 * 256 + 256 * 128 + 128 * 10)
    assert auto_threads(digits, cores=8)[0] == 1
    assert auto_threads(SMALL_WORK * 10, cores=8)[0] == 4
    assert auto_threads(SMALL_WORK * 10, cores=2)[0] == 2
    assert auto_threads(SMALL_WORK * 10, cores=1)[0] == 1


def test_limit_threads_sets_and_restores_the_blas_pool() -> None:
    before = current_blas_threads()
    if before is None:
        pytest.skip("threadpoolctl sees no BLAS pool in this NumPy")
    with limit_threads(1):
        assert current_blas_threads() == 1
    assert current_blas_threads() == before


@pytest.mark.parametrize(("flag", "want", "why"), [
    ([], 1, "auto: "), (["--threads", "2"], 2, "--threads"), (["--threads", "auto"], 1, "auto")])
def test_train_uses_prints_and_restores_the_thread_count(flag: list, want: int, why: str,
                                                         capsys, monkeypatch) -> None:
    seen = []
    real_fit = Trainer.fit

    def fit(self, *a, **k):
        seen.append(current_blas_threads())
        return real_fit(self, *a, **k)

    monkeypatch.setattr(Trainer, "fit", fit)
    before = current_blas_threads()
    assert cli.main(["train", "--dataset", "xor", "--epochs", "2", "--no-save",
                     "--progress", "none", *flag]) == 0
    out = capsys.readouterr().out
    assert f"threads {want} ({why}" in out, out
    if before is not None:
        assert seen == [want]
        assert current_blas_threads() == before


def test_threads_must_be_a_positive_whole_number(capsys) -> None:
    assert cli.main(["train", "--threads", "0", "--no-save"]) == 2
    assert "--threads: must be >= 1" in capsys.readouterr().err
