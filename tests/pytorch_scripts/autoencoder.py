# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# A denoising autoencoder with an encoder/decoder Sequential, MSE reconstruction,
# torch.clamp noise, and the latent codes collected with torch.cat under no_grad.
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(20, 12), nn.ReLU(True),
            nn.Linear(12, 3))
        self.decoder = nn.Sequential(
            nn.Linear(3, 12), nn.ReLU(True),
            nn.Linear(12, 20), nn.Sigmoid())

    def forward(self, x):
        x = self.encoder(x)
        x = self.decoder(x)
        return x


def main():
    torch.manual_seed(0)
    basis = torch.rand(3, 20)
    codes = torch.rand(256, 3)
    data = torch.clamp(codes @ basis / 1.5, 0.0, 1.0)
    loader = DataLoader(TensorDataset(data), batch_size=32, shuffle=True)
    model = AutoEncoder()
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-5)
    for epoch in range(30):
        for (img,) in loader:
            noisy = torch.clamp(img + 0.05 * torch.randn_like(img), 0., 1.)
            output = model(noisy)
            loss = criterion(output, img)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 10 == 0:
            print('epoch [{}/{}], loss:{:.4f}'.format(epoch + 1, 30, loss.data.item()))
    latents = []
    with torch.no_grad():
        for (img,) in DataLoader(TensorDataset(data), batch_size=64):
            latents.append(model.encoder(img))
    latents = torch.cat(latents)
    err = ((model(data) - data) ** 2).mean().item()
    return {"err_small": err < 0.01, "exact_latents": tuple(latents.shape),
            "exact_requires_grad": latents.requires_grad}


if __name__ == "__main__":
    print(main())
