# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# The loss functions people reach for, on fixed inputs (deterministic: compared with PyTorch).
import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([0, 2, 1, 1])
    r = {}
    r["ce"] = nn.CrossEntropyLoss()(logits, target).item()
    r["ce_weight"] = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]))(logits, target).item()
    r["ce_smooth"] = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target).item()
    r["ce_ignore"] = F.cross_entropy(logits, torch.tensor([0, -100, 1, 1])).item()
    r["ce_none"] = F.cross_entropy(logits, target, reduction="none").tolist()
    r["ce_probs"] = F.cross_entropy(logits, F.softmax(logits * 0.5, dim=1)).item()
    r["nll"] = F.nll_loss(F.log_softmax(logits, dim=1), target).item()
    r["nll_mod"] = nn.NLLLoss(reduction="sum")(torch.log_softmax(logits, 1), target).item()
    seq_logits = logits.view(2, 2, 3).permute(0, 2, 1)  # (N, C, L)
    r["ce_seq"] = F.cross_entropy(seq_logits, target.view(2, 2)).item()
    pred = torch.tensor([0.5, 2.0, -1.0, 4.0])
    tgt = torch.tensor([1.0, 1.5, -3.0, 4.5])
    r["mse"] = F.mse_loss(pred, tgt).item()
    r["l1"] = nn.L1Loss()(pred, tgt).item()
    r["smooth_l1"] = nn.SmoothL1Loss()(pred, tgt).item()
    r["huber"] = nn.HuberLoss(delta=0.5)(pred, tgt).item()
    probs = torch.tensor([0.9, 0.2, 0.6, 0.4])
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    r["bce"] = nn.BCELoss()(probs, labels).item()
    r["bce_logits"] = F.binary_cross_entropy_with_logits(pred, labels).item()
    r["kl"] = F.kl_div(F.log_softmax(logits, 1), F.softmax(logits.flip(1), 1), reduction="batchmean").item()
    r["kl_mod"] = nn.KLDivLoss(reduction="batchmean", log_target=True)(F.log_softmax(logits, 1), F.log_softmax(logits.flip(1), 1)).item()
    a, b = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    r["cos"] = F.cosine_similarity(a, b).tolist()
    r["cos_emb"] = nn.CosineEmbeddingLoss()(a, b, torch.tensor([1, -1])).item()
    r["margin"] = nn.MarginRankingLoss(margin=0.5)(pred, tgt, torch.tensor([1, -1, 1, -1])).item()
    r["triplet"] = nn.TripletMarginLoss(margin=1.0)(a, b, b.flip(0)).item()
    r["pairwise"] = F.pairwise_distance(a, b).tolist()
    r["hinge"] = nn.MultiMarginLoss()(logits, target).item()
    r["soft_margin"] = nn.SoftMarginLoss()(pred, torch.tensor([1.0, -1.0, 1.0, -1.0])).item()
    r["multilabel"] = nn.MultiLabelSoftMarginLoss()(logits, (logits > 0).float()).item()
    r["poisson"] = nn.PoissonNLLLoss()(pred, tgt.abs()).item()
    r["gaussian"] = nn.GaussianNLLLoss()(pred, tgt, torch.ones(4)).item()
    r["cdist"] = torch.cdist(a, b).tolist()
    return {"exact_" + k: ([round(x, 4) for x in v] if isinstance(v, list) and not isinstance(v[0], list)
                          else ([[round(x, 4) for x in row] for row in v] if isinstance(v, list) else round(v, 4)))
            for k, v in r.items()}


if __name__ == "__main__":
    for k, v in main().items():
        print(k, v)
