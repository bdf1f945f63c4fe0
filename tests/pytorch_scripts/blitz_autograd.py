# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# The autograd part of the blitz: requires_grad, grad_fn, backward with a vector, no_grad, detach.
import torch


def main():
    x = torch.ones(2, 2, requires_grad=True)
    print(x)
    y = x + 2
    print(y)
    print(y.grad_fn)
    z = y * y * 3
    out = z.mean()
    print(z, out)

    a = torch.randn(2, 2)
    a = ((a * 3) / (a - 1))
    print(a.requires_grad)
    a.requires_grad_(True)
    print(a.requires_grad)
    b = (a * a).sum()
    print(b.grad_fn)

    out.backward()
    print(x.grad)

    x2 = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    y2 = x2 * 2
    while y2.data.norm() < 1000:
        y2 = y2 * 2
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y2.backward(v)
    print(x2.grad)

    print(x2.requires_grad)
    print((x2 ** 2).requires_grad)
    with torch.no_grad():
        print((x2 ** 2).requires_grad)
    y3 = x2.detach()
    print(y3.requires_grad)
    print(x2.eq(y3).all())

    # the tutorial's Q/a/b example with external_grad
    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3 * a ** 3 - b ** 2
    external_grad = torch.tensor([1., 1.])
    Q.backward(gradient=external_grad)
    print(9 * a ** 2 == a.grad)
    print(-2 * b == b.grad)
    a.grad.zero_()
    Q2 = (a * b).sum()
    Q2.backward()
    return {
        "exact_x_grad": x.grad.tolist(),
        "exact_out": out.item(),
        "exact_x2_grad": x2.grad.tolist(),
        "exact_a_grad": a.grad.tolist(),
        "exact_b_grad": b.grad.tolist(),
        "exact_leaf": [x.is_leaf, y.is_leaf, y.grad_fn is not None, x.grad_fn is None],
    }


if __name__ == "__main__":
    print(main())
