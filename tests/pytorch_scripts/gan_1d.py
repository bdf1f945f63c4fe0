# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# A GAN on 1-D data: generator and discriminator, two optimisers, detach() for the D step,
# BCELoss with real/fake label tensors.
import torch
import torch.nn as nn
import torch.optim as optim


def main():
    torch.manual_seed(0)
    real_mean, real_std = 4.0, 1.25
    latent_dim = 4
    G = nn.Sequential(nn.Linear(latent_dim, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    D = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Sigmoid())
    criterion = nn.BCELoss()
    d_optimizer = optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    g_optimizer = optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    batch_size = 64
    real_label = torch.ones(batch_size, 1)
    fake_label = torch.zeros(batch_size, 1)
    for epoch in range(600):
        real = torch.randn(batch_size, 1) * real_std + real_mean
        z = torch.randn(batch_size, latent_dim)
        fake = G(z)
        D.zero_grad()
        d_real = criterion(D(real), real_label)
        d_fake = criterion(D(fake.detach()), fake_label)
        d_loss = d_real + d_fake
        d_loss.backward()
        d_optimizer.step()
        G.zero_grad()
        g_loss = criterion(D(fake), real_label)
        g_loss.backward()
        g_optimizer.step()
        if epoch % 200 == 0:
            print("Epoch %d: D: %.3f G: %.3f" % (epoch, d_loss.item(), g_loss.item()))
    with torch.no_grad():
        samples = G(torch.randn(1000, latent_dim))
    mean, std = samples.mean().item(), samples.std().item()
    print(f"generated mean {mean:.2f} std {std:.2f}")
    return {"mean_close": abs(mean - real_mean) < 1.0, "std_pos": std > 0.2,
            "exact_shape": tuple(samples.shape), "exact_dtype_ok": samples.dtype == torch.float32}


if __name__ == "__main__":
    print(main())
