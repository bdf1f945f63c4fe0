# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# A tiny CNN on random 1x28x28 "images": Conv2d, BatchNorm2d, MaxPool2d, Dropout,
# view/reshape/flatten/permute, a functional forward, AdaptiveAvgPool2d.
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):
    def __init__(self, num_classes=10):
        super(CNN, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.dropout = nn.Dropout2d(0.25)
        self.fc1 = nn.Linear(16 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.dropout(x)
        x = x.view(-1, 16 * 7 * 7)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def main():
    torch.manual_seed(0)
    images = torch.randn(16, 1, 28, 28)
    labels = torch.randint(0, 10, (16,))
    model = CNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for step in range(15):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(losses[0], losses[-1])

    seq = nn.Sequential(
        nn.Conv2d(3, 4, kernel_size=3), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(4, 2))
    rgb = torch.rand(2, 32, 32, 3)  # channels-last, as loaded from PIL/numpy
    rgb = rgb.permute(0, 3, 1, 2).contiguous()
    out = seq(rgb)
    feat = seq[:3](rgb)
    flat = torch.flatten(feat, 1)
    r = feat.reshape(feat.size(0), -1)
    up = F.interpolate(rgb, scale_factor=2, mode="nearest")
    pooled = F.max_pool2d(rgb, kernel_size=2)
    avg = F.avg_pool2d(rgb, 2)
    pad = F.pad(rgb, (1, 1, 2, 2))
    return {"learns": losses[-1] < losses[0], "exact_out": tuple(out.shape),
            "exact_feat": tuple(feat.shape), "exact_flat": tuple(flat.shape), "exact_r": tuple(r.shape),
            "exact_up": tuple(up.shape), "exact_pooled": tuple(pooled.shape),
            "exact_avg": tuple(avg.shape), "exact_pad": tuple(pad.shape),
            "exact_contig": rgb.is_contiguous(),
            "exact_nparams": sum(p.numel() for p in model.parameters())}


if __name__ == "__main__":
    print(main())
