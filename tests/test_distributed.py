"""chainrule.distributed, DistributedDataParallel and DistributedSampler.

The MPI tests start ``mpirun -n 2`` subprocesses on this machine (shared memory / loopback only)
and are skipped when mpirun or mpi4py is missing (``pip install 'chainrule[mpi]'`` and Debian's
``openmpi-bin``; ``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule.data import DistributedSampler

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed" / "ddp_worker.py"
CNN_WORKER = ROOT / "tests" / "distributed" / "cnn_worker.py"


def _mpirun() -> list[str] | None:
    exe = shutil.which("mpirun")
    if exe is None or not dist.is_available():
        return None
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version:  # root in containers; shared memory, no network
        return [exe, "--oversubscribe", "--mca", "btl", "self,vader"]
    return [exe, "-iface", "lo"]


MPIRUN = _mpirun()
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="needs mpirun and mpi4py "
                               "(pip install 'chainrule[mpi]'; apt-get install openmpi-bin)")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


def _run(args: list[str], n: int | None, timeout: float = 120, **env: str
         ) -> subprocess.CompletedProcess:
    cmd = [*MPIRUN, "-n", str(n), sys.executable, *args] if n else [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(**env),
                          cwd=ROOT)


# -- without MPI -------------------------------------------------------------------------------

def test_without_a_process_group() -> None:
    assert not dist.is_initialized()
    assert dist.get_rank() == 0 and dist.get_world_size() == 1 and dist.is_main_process()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.barrier()
    with pytest.raises(RuntimeError, match="init_process_group"):
        cr.nn.parallel.DistributedDataParallel(cr.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="'mpi'"):
        dist.init_process_group("gloo")


def test_sync_batch_norm_without_a_process_group_is_batch_norm() -> None:
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Conv2d(1, 3, 3), cr.nn.BatchNorm2d(3),
                             cr.nn.Sequential(cr.nn.Flatten(), cr.nn.BatchNorm1d(12, affine=False)),
                             cr.nn.InstanceNorm2d(3)).double()
    ref = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    weight = model[1].weight
    synced = cr.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert synced is model and type(model[1]) is cr.nn.SyncBatchNorm
    assert type(model[2][1]) is cr.nn.SyncBatchNorm and not model[2][1].affine
    assert type(model[3]) is cr.nn.InstanceNorm2d  # not a BatchNorm: left alone, as in torch
    assert model[1].weight is weight  # the same Parameter: build the optimizer after converting
    assert list(model.state_dict()) == list(ref)
    x = np.random.default_rng(0).standard_normal((4, 1, 4, 4))
    plain = cr.nn.BatchNorm1d(12, affine=False).double()
    flat = cr.tensor(x).reshape(4, -1)[:, :12]
    np.testing.assert_array_equal(cr.nn.SyncBatchNorm(12, affine=False).double()(flat).numpy(),
                                  plain(flat).numpy())
    bn = cr.nn.SyncBatchNorm.convert_sync_batchnorm(cr.nn.BatchNorm2d(3))
    assert type(bn) is cr.nn.SyncBatchNorm
    with pytest.raises(ValueError, match="SyncBatchNorm: expected at least 2D input"):
        bn(cr.ones(3))
    with pytest.raises(ValueError, match="has 2 channels"):
        bn(cr.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        from chainrule.distributed.sync_batch_norm import sync_batch_norm
        sync_batch_norm(cr.ones(2, 3), None, None, None, None, 0.1, 1e-5)


@pytest.mark.parametrize("n", [10, 11, 13])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_partitions(n: int, drop_last: bool) -> None:
    parts = [DistributedSampler(range(n), num_replicas=3, rank=r, seed=5, drop_last=drop_last)
             for r in range(3)]
    lists = [list(p) for p in parts]
    assert len({len(x) for x in lists}) == 1 and len(lists[0]) == len(parts[0])
    flat = [i for x in lists for i in x]
    if drop_last:
        assert len(set(flat)) == len(flat) == 3 * (n // 3)
    else:
        assert set(flat) == set(range(n)) and len(flat) == 3 * -(-n // 3)  # padded
    before = list(parts[0])
    parts[0].set_epoch(1)
    assert list(parts[0]) != before  # a new permutation each epoch
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(range(4), num_replicas=2, rank=2)


def test_distributed_sampler_matches_torch_without_shuffle() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for n, drop in ((11, False), (11, True), (12, False)):
        for r in range(4):
            ours = list(DistributedSampler(range(n), 4, r, shuffle=False, drop_last=drop))
            theirs = list(TorchSampler(range(n), 4, r, shuffle=False, drop_last=drop))
            assert ours == theirs, (n, drop, r)
    assert torch is not None


# -- under mpirun ---------------------------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("mode", ["plain", "accum"])
def test_data_parallel_equals_one_process(tmp_path: Path, mode: str) -> None:
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    r1 = _run([str(WORKER), str(one), "plain", "6"], None)
    assert r1.returncode == 0, r1.stderr
    r2 = _run([str(WORKER), str(two), mode, "6"], 2)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    a, b = np.load(one), np.load(two)
    assert int(b["allreduces"]) > 6  # several buckets per step
    for k in a.files:
        if k != "allreduces":
            np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-12, err_msg=k)


@needs_mpi
@pytest.mark.parametrize("mode, needle", [
    ("die", "rank 1"),        # SIGKILL: mpirun names the rank and the signal
    ("raise", "rank 1 of 2: raised RuntimeError: worker failed on purpose"),
    ("hang", "did not complete within 5 s"),
])
def test_a_failing_rank_stops_the_job(tmp_path: Path, mode: str, needle: str) -> None:
    t0 = time.monotonic()
    r = _run([str(WORKER), str(tmp_path / "x.npz"), mode, "6"], 2, timeout=90,
             WORKER_TIMEOUT="5")
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert needle in out, out
    assert took < 60, took
    if mode == "die":
        assert "signal 9" in out, out


@needs_mpi
def test_cli_train_under_mpirun_and_resume_on_one_rank(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["-m", "chainrule.cli.main", "train", "--out", str(out), "--epochs", "2",
            "--progress", "lines"]
    r = _run(args, 2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("chainrule train: digits") == 1  # rank 0 alone prints
    assert "data-parallel on 2 MPI ranks" in r.stdout
    assert r.stdout.count("epoch 2/2") == 1
    assert (out / "model.ckpt").exists()
    assert len((out / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs
    r = _run(["-m", "chainrule.cli.main", "train", "--out", str(out), "--epochs", "3",
              "--resume", "--progress", "lines"], None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "epoch 3/3" in r.stdout and "test accuracy" in r.stdout


def _cnn(tmp_path: Path, name: str, mode: str, n: int | None, steps: int = 4) -> Any:
    out = tmp_path / f"{name}.npz"
    r = _run([str(CNN_WORKER), str(out), mode, str(steps)], n)
    assert r.returncode == 0, r.stdout + r.stderr
    return np.load(out)


@needs_mpi
def test_sync_batch_norm_with_ddp_equals_batch_norm_on_the_global_batch(tmp_path: Path) -> None:
    """2 ranks, SyncBatchNorm (BatchNorm2d after a conv, BatchNorm1d with momentum=None) + DDP:
    the weights, running statistics and eval output after 4 SGD-momentum steps are one
    process's with plain BatchNorm on the concatenated batches (float64 round-off; the ranks'
    shards have different statistics, and plain BatchNorm under DDP is far off)."""
    one = _cnn(tmp_path, "one", "single", None)
    two = _cnn(tmp_path, "two", "sync", 2)
    local = _cnn(tmp_path, "local", "local", 2)
    keys = [k for k in one.files if k not in ("events", "launches")]
    assert {"1.running_mean", "1.running_var", "6.running_var", "eval_output"} <= set(keys)
    for k in keys:
        np.testing.assert_allclose(two[k], one[k], rtol=0, atol=1e-13, err_msg=k)
    assert int(two["1.num_batches_tracked"]) == 4
    far = [k for k in ("1.running_var", "6.running_mean", "0.weight", "eval_output")
           if np.abs(local[k] - one[k]).max() > 1e-3]
    assert len(far) == 4, far  # per-rank statistics: the comparison above can tell


@needs_mpi
def test_several_buckets_start_during_backward_and_match_one_bucket(tmp_path: Path) -> None:
    """A small bucket_cap_mb splits the CNN's gradient into several buckets; the observer's log
    of the first backward shows the first Iallreduce starting while nodes are still to run (the
    conv layers below), in bucket order, and 3 steps give the same weights as one bucket."""
    many = _cnn(tmp_path, "many", "buckets:0.001", 2, steps=3)
    one = _cnn(tmp_path, "one", "buckets:25", 2, steps=3)
    events = list(many["events"])
    nodes = len(events)
    assert int(many["buckets"]) >= 4 and int(one["buckets"]) == 1
    assert int(many["allreduces"]) == 3 * int(many["buckets"])
    launches = many["launches"]  # (bucket, nodes run before the one that started it)
    assert list(launches[:, 0]) == list(range(int(many["buckets"])))
    assert list(launches[:, 1]) == sorted(launches[:, 1])
    still_to_run = nodes - int(launches[0, 1]) - 1
    assert still_to_run >= 4, (launches, events)
    assert events[int(launches[0, 1])] == "linear"  # Linear(32, 16): bucket 0 holds its bias
    assert "conv" in events[int(launches[0, 1]) + 1:]  # while the convs' vjps are still to run
    assert int(one["launches"][0, 1]) == nodes - 1  # one bucket: started by the last node
    for k in one.files:
        if "." in k or k == "eval_output":
            np.testing.assert_array_equal(many[k], one[k], err_msg=k)
