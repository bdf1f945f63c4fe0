# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# torch.autograd.grad with create_graph: second derivatives, a WGAN-GP gradient penalty,
# a Hessian-vector product, and a physics-informed residual (du/dx, d2u/dx2).
import torch
import torch.nn as nn
from torch import autograd


def gradient_penalty(critic, real, fake):
    alpha = torch.rand(real.size(0), 1)
    alpha = alpha.expand_as(real)
    interpolates = alpha * real + (1 - alpha) * fake
    interpolates.requires_grad_(True)
    disc_interpolates = critic(interpolates)
    gradients = autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                              grad_outputs=torch.ones(disc_interpolates.size()),
                              create_graph=True, retain_graph=True, only_inputs=True)[0]
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


def main():
    x = torch.tensor(2.0, requires_grad=True)
    y = x ** 3
    dy_dx, = torch.autograd.grad(y, x, create_graph=True)
    d2y_dx2, = torch.autograd.grad(dy_dx, x)
    print(dy_dx.item(), d2y_dx2.item())

    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gp = gradient_penalty(critic, real, fake)
    gp.backward()
    gnorm = sum(p.grad.norm() ** 2 for p in critic.parameters() if p.grad is not None).sqrt()

    w = torch.randn(5, requires_grad=True)
    v = torch.randn(5)
    loss = (w ** 4).sum()
    g = torch.autograd.grad(loss, w, create_graph=True)[0]
    hvp = torch.autograd.grad(g, w, grad_outputs=v)[0]
    expected = 12 * w.detach() ** 2 * v

    net = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1))
    xs = torch.linspace(0, 1, 10).view(-1, 1).requires_grad_()
    u = net(xs)
    u_x = torch.autograd.grad(u, xs, torch.ones_like(u), create_graph=True)[0]
    u_xx = torch.autograd.grad(u_x, xs, torch.ones_like(u_x), create_graph=True)[0]
    residual = (u_xx + u).pow(2).mean()
    residual.backward()

    h = torch.autograd.functional.hessian(lambda t: (t ** 3).sum(), torch.tensor([1.0, 2.0]))
    jac = torch.autograd.functional.jacobian(lambda t: t ** 2, torch.tensor([1.0, 3.0]))
    return {"exact_d1": dy_dx.item(), "exact_d2": d2y_dx2.item(), "gp": gp.item() >= 0,
            "gnorm": bool(gnorm > 0), "exact_hvp": torch.allclose(hvp, expected, atol=1e-4),
            "exact_uxx_shape": tuple(u_xx.shape), "has_grad": net[0].weight.grad is not None,
            "exact_hessian": h.tolist(), "exact_jac": jac.tolist()}


if __name__ == "__main__":
    print(main())
