# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Attention as people write it by hand, nn.MultiheadAttention, a TransformerEncoder with
# a causal mask and a positional encoding buffer, trained a few steps on a copy task.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_dot_product(q, k, v, mask=None):
    d_k = q.size()[-1]
    attn_logits = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d_k)
    if mask is not None:
        attn_logits = attn_logits.masked_fill(mask == 0, -9e15)
    attention = F.softmax(attn_logits, dim=-1)
    return torch.matmul(attention, v), attention


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=50):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0)
        self.register_buffer('pe', pe, persistent=False)

    def forward(self, x):
        return x + self.pe[:, :x.size(1)]


class TinyTransformer(nn.Module):
    def __init__(self, vocab=10, d_model=16, nhead=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = PositionalEncoding(d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.out = nn.Linear(d_model, vocab)

    def forward(self, src):
        L = src.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(L)
        h = self.encoder(self.pos(self.embed(src)), mask=mask)
        return self.out(h)


def main():
    torch.manual_seed(0)
    q = torch.randn(2, 4, 8)
    mask = torch.tril(torch.ones(4, 4))
    values, attention = scaled_dot_product(q, q, q, mask=mask)
    mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
    attn_out, attn_w = mha(q, q, q, need_weights=True)
    sdpa = F.scaled_dot_product_attention(q, q, q, is_causal=True)
    model = TinyTransformer()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    src = torch.randint(0, 10, (8, 6))
    for step in range(60):
        logits = model(src)
        loss = F.cross_entropy(logits.reshape(-1, 10), src.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("final loss", loss.item())
    return {"learns": loss.item() < 1.0,
            "exact_attention_rows": [round(x, 4) for x in attention.sum(-1).flatten().tolist()],
            "exact_upper_zero": attention[0, 0, 1:].abs().sum().item() < 1e-6,
            "exact_values": tuple(values.shape), "exact_mha": (tuple(attn_out.shape), tuple(attn_w.shape)),
            "exact_sdpa_match": torch.allclose(sdpa, values, atol=1e-5),
            "exact_mask": nn.Transformer.generate_square_subsequent_mask(3).tolist()}


if __name__ == "__main__":
    print(main())
