"""Make backprop visible: traces, explanations, graph drawings, gradient flow, cost."""

from chainrule.viz.cost import PassCounter, cost_table, measure_cost, plot_cost
from chainrule.viz.draw import GraphDrawing, draw
from chainrule.viz.explain import explain, explain_network, mazur_network
from chainrule.viz.gradflow import GradientFlow, record_gradient_flow
from chainrule.viz.modelcheck import ModelCheck, ParamCheck, check_model_gradients
from chainrule.viz.render import screenshot
from chainrule.viz.trace import Trace, trace
