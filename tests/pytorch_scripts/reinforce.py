# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# REINFORCE as in pytorch/examples' reinforcement_learning/reinforce.py, on a two-armed bandit
# (arm 1 pays 1, arm 0 pays 0) instead of gym's CartPole.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import Categorical


class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(4, 16)
        self.affine2 = nn.Linear(16, 2)

    def forward(self, x):
        x = F.relu(self.affine1(x))
        return F.softmax(self.affine2(x), dim=1)


def main():
    torch.manual_seed(543)
    policy = Policy()
    optimizer = optim.Adam(policy.parameters(), lr=1e-2)
    eps = np.finfo(np.float32).eps.item()
    rewards_seen = []
    for episode in range(60):
        log_probs, rewards = [], []
        for t in range(8):
            state = torch.randn(1, 4)
            probs = policy(state)
            m = Categorical(probs)
            action = m.sample()
            log_probs.append(m.log_prob(action))
            rewards.append(float(action.item() == 1))
        returns = torch.tensor(rewards)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        loss = torch.cat([-lp * r for lp, r in zip(log_probs, returns)]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rewards_seen.append(sum(rewards) / len(rewards))
    return sum(rewards_seen[:10]) / 10, sum(rewards_seen[-10:]) / 10
