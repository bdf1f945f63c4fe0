# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Embedding + LSTM/GRU text classifier over variable-length sequences with pad_sequence,
# pack_padded_sequence and pad_packed_sequence.
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

VOCAB, PAD = 20, 0


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_classes, rnn="lstm"):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        cls = nn.LSTM if rnn == "lstm" else nn.GRU
        self.rnn = cls(embed_dim, hidden_dim, num_layers=1, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(hidden_dim * 2, num_classes)

    def forward(self, text, lengths):
        embedded = self.embedding(text)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, hidden = self.rnn(packed)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
        out, out_lengths = pad_packed_sequence(packed_out, batch_first=True)
        hidden = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
        return self.fc(hidden), out, out_lengths


def make_batch(n=16):
    seqs, labels = [], []
    for i in range(n):
        length = int(torch.randint(2, 8, (1,)))
        label = i % 2
        tokens = torch.randint(1, VOCAB // 2, (length,)) + label * (VOCAB // 2 - 1)
        seqs.append(tokens)
        labels.append(label)
    lengths = torch.tensor([len(s) for s in seqs])
    return pad_sequence(seqs, batch_first=True, padding_value=PAD), lengths, torch.tensor(labels)


def main():
    torch.manual_seed(0)
    text, lengths, labels = make_batch()
    results = {}
    for kind in ["lstm", "gru"]:
        model = TextClassifier(VOCAB, 8, 16, 2, rnn=kind)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        crit = nn.CrossEntropyLoss()
        for epoch in range(30):
            opt.zero_grad()
            logits, out, out_lengths = model(text, lengths)
            loss = crit(logits, labels)
            loss.backward()
            opt.step()
        acc = (logits.argmax(1) == labels).float().mean().item()
        print(kind, loss.item(), acc)
        results[kind] = acc > 0.9
        results[f"exact_{kind}_out"] = (tuple(out.shape[:1]) + tuple(out.shape[2:]), out_lengths.tolist() == lengths.tolist())
    lstm = nn.LSTM(input_size=4, hidden_size=6, num_layers=2, batch_first=False)
    x = torch.randn(5, 3, 4)
    h0 = torch.zeros(2, 3, 6)
    c0 = torch.zeros(2, 3, 6)
    output, (hn, cn) = lstm(x, (h0, c0))
    cell = nn.LSTMCell(4, 6)
    hx, cx = torch.zeros(3, 6), torch.zeros(3, 6)
    for t in range(x.size(0)):
        hx, cx = cell(x[t], (hx, cx))
    results["exact_lstm_shapes"] = (tuple(output.shape), tuple(hn.shape), tuple(cn.shape), tuple(hx.shape))
    results["exact_text"] = (tuple(text.shape[:1]), int((text == PAD).sum() + lengths.sum()) == text.numel())
    return results


if __name__ == "__main__":
    print(main())
