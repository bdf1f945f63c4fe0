"""Exercises: write a backward pass, check it against finite differences and the engine.

    import chainrule as cr
    cr.exercise.sigmoid_backward()            # prints the task and a template
    cr.exercise.sigmoid_backward(my_answer)   # checks it: a table of the worst entries, PASS/FAIL
    cr.exercise.check(my_backward, reference=cr.tanh, inputs=[x])   # any op of your own
"""

from chainrule.exercise.check import CheckReport, check
from chainrule.exercise.exercises import (
    EXERCISES,
    mlp_backprop,
    sigmoid_backward,
    softmax_cross_entropy_backward,
    template,
)

__all__ = ["EXERCISES", "CheckReport", "check", "mlp_backprop", "sigmoid_backward",
           "softmax_cross_entropy_backward", "template"]
