# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# A small VAE on synthetic binary "images": reparameterisation trick, KL term,
# binary_cross_entropy(reduction='sum'), sampling from the prior.
import torch
from torch import nn, optim
from torch.nn import functional as F


class VAE(nn.Module):
    def __init__(self, d=16, h=32, z=2):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc21 = nn.Linear(h, z)
        self.fc22 = nn.Linear(h, z)
        self.fc3 = nn.Linear(z, h)
        self.fc4 = nn.Linear(h, d)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 16))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 16), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def main():
    torch.manual_seed(0)
    protos = (torch.rand(2, 16) > 0.5).float()
    data = protos[torch.randint(0, 2, (128,))]
    data = torch.where(torch.rand_like(data) < 0.05, 1 - data, data)
    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    history = []
    for epoch in range(40):
        train_loss = 0
        for batch in data.split(32):
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(batch)
            loss = loss_function(recon_batch, batch, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        history.append(train_loss / len(data))
    print('====> Average loss: {:.4f}'.format(history[-1]))
    model.eval()
    with torch.no_grad():
        sample = torch.randn(8, 2)
        sample = model.decode(sample).cpu()
        recon, mu, logvar = model(data[:4])
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * logvar)),
        torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    return {"learns": history[-1] < history[0] * 0.6, "exact_sample": tuple(sample.shape),
            "in_range": bool(((sample >= 0) & (sample <= 1)).all()),
            "exact_kl_shape": tuple(kl.shape), "kl_pos": bool((kl >= 0).all())}


if __name__ == "__main__":
    print(main())
