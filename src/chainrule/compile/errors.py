"""The warning and the error of ``cr.compile`` (a module of their own, so that ``import
chainrule`` does not load the recorder)."""


class CompileWarning(UserWarning):
    """``cr.compile`` could not replay a step and runs it eagerly instead (the reason is given)."""


class CompileError(RuntimeError):
    """``cr.compile(step, strict=True)`` could not replay the step (the reason is given)."""
