"""``cr.profiler``: the ops a step runs are counted and timed (forward ops, backward nodes,
``record_function`` ranges), times nest (total includes what runs inside, self does not), the
table has PyTorch's columns, the schedule records the steps PyTorch's does, and nothing is left
installed afterwards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd.grad_mode import STATE
from chainrule.profiler import ProfilerActivity, profile, record_function


def _model() -> nn.Module:
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


def _step(model: nn.Module) -> None:
    x = cr.randn(8, 16)
    with record_function("model_inference"):
        loss = model(x).square().mean()
    loss.backward()


def test_counts_ops_backward_nodes_and_ranges() -> None:
    model = _model()
    before = sys.getprofile()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        _step(model)
    assert sys.getprofile() is before and STATE.observers == ()  # nothing left installed
    rows = {e.key: e for e in prof.key_averages()}
    assert rows["linear"].count == 2 and rows["relu"].count == 1
    assert rows["LinearBackward"].count == 2 and rows["ReluBackward"].count == 1
    assert rows["model_inference"].count == 1 and rows["autograd::backward"].count == 1
    # the range contains the forward ops: its total time covers theirs, its self time excludes
    inside = sum(rows[k].cpu_time_total for k in ("linear", "relu", "square", "mean"))
    r = rows["model_inference"]
    assert r.cpu_time_total >= inside and r.self_cpu_time_total <= r.cpu_time_total - inside + 1e-6
    back = rows["autograd::backward"]
    nodes = sum(rows[k].cpu_time_total for k in rows if k.endswith("Backward"))
    assert back.cpu_time_total >= nodes
    events = prof.events()
    lin = [e for e in events if e.name == "linear"]
    assert lin[0].input_shapes == [[8, 16], [32, 16], [32]]
    assert all(e.cpu_parent is not None and e.cpu_parent.name == "model_inference" for e in lin)


def test_table_has_pytorch_columns_and_sorts() -> None:
    torch = pytest.importorskip("torch")
    model = _model()
    with profile(profile_memory=True) as prof:
        _step(model)
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=5)
    with torch.profiler.profile(profile_memory=True) as tprof:
        torch.nn.Linear(2, 2)(torch.randn(1, 2)).sum().backward()
    theirs = tprof.key_averages().table(sort_by="cpu_time_total", row_limit=5)
    header = next(ln for ln in table.splitlines() if "Name" in ln).split()
    assert header == next(ln for ln in theirs.splitlines() if "Name" in ln).split()
    body = [ln for ln in table.splitlines() if ln and not ln.startswith("-")][1:-1]
    assert len(body) == 5
    assert table.splitlines()[-1].startswith("Self CPU time total: ")
    totals = [e.cpu_time_total for e in sorted(prof.key_averages(),
                                               key=lambda e: -e.cpu_time_total)][:5]
    assert totals == sorted(totals, reverse=True)
    by_count = prof.key_averages().table(sort_by="count", row_limit=1)
    assert "linear" in by_count or "Backward" in by_count  # the most frequent name first
    mem = {e.key: e for e in prof.key_averages()}
    assert mem["linear"].self_cpu_memory_usage == (8 * 32 + 8 * 4) * 4  # the two outputs
    shaped = prof.events()
    assert not any(e.input_shapes for e in shaped)  # record_shapes=False
    with pytest.raises(RuntimeError, match="record_shapes=True"):
        prof.key_averages(group_by_input_shape=True)


def test_group_by_input_shape() -> None:
    lin = nn.Linear(4, 4)
    with profile(record_shapes=True) as prof:
        lin(cr.randn(2, 4))
        lin(cr.randn(3, 4))
        lin(cr.randn(3, 4))
    groups = {(e.key, str(e.input_shapes)): e.count
              for e in prof.key_averages(group_by_input_shape=True) if e.key == "linear"}
    assert groups == {("linear", "[[2, 4], [4, 4], [4]]"): 1,
                      ("linear", "[[3, 4], [4, 4], [4]]"): 2}


def test_functions_and_composites_are_named() -> None:
    class Square(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = cr.randn(3, 3, requires_grad=True)
    with profile() as prof:
        y = cr.mm(Square.apply(x), x)
        y.sum().backward()
    names = {e.key for e in prof.key_averages()}
    assert {"Square", "mm", "matmul", "MatmulBackward", "SquareBackward"} <= names
    mm = next(e for e in prof.events() if e.name == "mm")
    assert [c.name for c in mm.cpu_children] == ["matmul"]


def test_schedule_records_the_active_steps_and_hands_each_span_over(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    sched = cr.profiler.schedule(wait=1, warmup=1, active=2, repeat=2)
    tsched = torch.profiler.schedule(wait=1, warmup=1, active=2, repeat=2)
    assert [sched(i).name for i in range(10)] == [tsched(i).name for i in range(10)]
    spans = []
    model = _model()
    handler = cr.profiler.tensorboard_trace_handler(str(tmp_path))

    def ready(p):
        spans.append(sorted({e.name for e in p.events() if e.name.startswith("ProfilerStep")}))
        handler(p)

    with profile(schedule=sched, on_trace_ready=ready) as prof:
        for _ in range(9):
            _step(model)
            prof.step()
    assert spans == [["ProfilerStep#2", "ProfilerStep#3"], ["ProfilerStep#6", "ProfilerStep#7"]]
    traces = sorted(tmp_path.glob("*.pt.trace.json"))
    assert len(traces) == 2
    events = json.loads(traces[0].read_text())["traceEvents"]
    assert any(e["name"] == "linear" and e["ph"] == "X" for e in events)


def test_legacy_autograd_profiler_and_idle_record_function() -> None:
    with record_function("nothing running"):  # no profiler: a no-op
        cr.ones(2).sum()
    lin = nn.Linear(3, 3)
    with cr.autograd.profiler.profile() as prof:
        lin(cr.ones(2, 3)).sum().backward()
    assert "linear" in str(prof) and "LinearBackward" in prof.key_averages().table(
        sort_by="self_cpu_time_total")
    with cr.autograd.profiler.profile(enabled=False) as off:
        lin(cr.ones(2, 3))
    assert len(off.events()) == 0

    @record_function("decorated")
    def f(x):
        return x + 1

    with profile() as prof:
        f(cr.ones(2))
    assert [e.key for e in prof.key_averages()][:1] == ["decorated"]


def test_profiler_stops_cleanly_on_error() -> None:
    before = sys.getprofile()
    with pytest.raises(ValueError), profile():
        raise ValueError("boom")
    assert sys.getprofile() is before and STATE.observers == ()
