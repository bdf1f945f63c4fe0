"""``cr.profiler``, as ``torch.profiler``: ``profile``, ``record_function``,
``ProfilerActivity``, ``schedule``, ``tensorboard_trace_handler``
(``chainrule.autograd.profiler``; see docs/amp.md)::

    with cr.profiler.profile(activities=[cr.profiler.ProfilerActivity.CPU],
                             record_shapes=True) as prof:
        with cr.profiler.record_function("model_inference"):
            model(x)
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
"""

from chainrule.autograd.profiler import (
    EventList,
    FunctionEvent,
    FunctionEventAvg,
    ProfilerAction,
    ProfilerActivity,
    record_function,
    schedule,
    tensorboard_trace_handler,
)
from chainrule.autograd.profiler import kineto_profile as profile

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "ProfilerAction", "ProfilerActivity",
           "profile", "record_function", "schedule", "tensorboard_trace_handler"]
