# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# NumPy interop and device handling: from_numpy, .numpy(), torch.tensor(np array),
# .tolist(), .item(), dtype conversions, .to(device), .cpu(), torch.Tensor(list), as_tensor.
import numpy as np
import torch

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def main():
    arr = np.random.RandomState(0).rand(4, 3).astype(np.float32)
    t = torch.from_numpy(arr).to(device)
    t2 = torch.tensor(arr, dtype=torch.float64)
    t3 = torch.as_tensor(arr)
    t4 = torch.Tensor([[1, 2], [3, 4]])
    t5 = torch.FloatTensor(np.array([1.5, 2.5]))
    t6 = torch.LongTensor([1, 2, 3])
    back = t.cpu().numpy()
    w = torch.randn(3, requires_grad=True)
    w_np = w.detach().cpu().numpy()
    labels = np.array([0, 2, 1, 1])
    y = torch.from_numpy(labels).long()
    y_onehot = torch.nn.functional.one_hot(y, num_classes=3)
    mean = t.mean(0).tolist()
    scalar = torch.tensor(3.5)
    idx = np.argmax(t.numpy(), axis=1)
    np_mask = t.numpy() > 0.5
    t_masked = t[torch.from_numpy(np_mask)]
    dev = t.device
    moved = t.to(dev).to(torch.float16).float()
    sum_np = np.sum(t.numpy() ** 2)
    print(t.dtype, t2.dtype, t4.dtype, t6.dtype, device, dev.type)
    return {
        "exact_roundtrip": bool(np.allclose(back, arr)),
        "exact_dtypes": (str(t.dtype), str(t2.dtype), str(t3.dtype), str(t4.dtype), str(t5.dtype), str(t6.dtype)),
        "exact_w_np": (w_np.shape, w_np.dtype.name),
        "exact_onehot": y_onehot.tolist(),
        "exact_mean": [round(m, 5) for m in mean],
        "exact_scalar": (scalar.item(), float(scalar), int(scalar), scalar.dim()),
        "exact_idx": idx.tolist(),
        "exact_masked": t_masked.numel() == int(np_mask.sum()),
        "exact_device": (dev.type, str(torch.device("cpu"))),
        "exact_moved": round(float(moved.sum()), 2),
        "exact_sum_np": round(float(sum_np), 4),
        "exact_item_types": (type(t6[0].item()).__name__, type(t[0, 0].item()).__name__),
        "exact_np_from_list": np.array(t6.tolist()).tolist(),
        "exact_array_protocol": np.asarray(t4).tolist(),
    }


if __name__ == "__main__":
    print(main())
