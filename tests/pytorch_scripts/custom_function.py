# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Custom autograd.Function with ctx.save_for_backward, as in the "Extending PyTorch" docs and
# the LegendrePolynomial3 example of the tutorials.
import math

import torch
from torch.autograd import Function


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class MyReLU(Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class MulConstant(Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


def main():
    dtype = torch.float
    x = torch.linspace(-math.pi, math.pi, 200, dtype=dtype)
    y = torch.sin(x)
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
    learning_rate = 5e-6
    for t in range(500):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            print(t, loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f'Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)')

    inp = torch.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    MyReLU.apply(inp).sum().backward()
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    MulConstant.apply(t, 3.0).sum().backward()

    torch.manual_seed(0)
    inputs = (torch.randn(4, 3, dtype=torch.double, requires_grad=True),
              torch.randn(2, 3, dtype=torch.double, requires_grad=True),
              torch.randn(2, dtype=torch.double, requires_grad=True))
    ok = torch.autograd.gradcheck(LinearFunction.apply, inputs, eps=1e-6, atol=1e-4)
    out = LinearFunction.apply(*inputs)
    return {"exact_loss": round(loss.item(), 1), "exact_relu_grad": inp.grad.tolist(),
            "exact_mul_grad": t.grad.tolist(), "exact_gradcheck": ok,
            "exact_out_shape": tuple(out.shape), "exact_grad_fn": out.grad_fn is not None}


if __name__ == "__main__":
    print(main())
