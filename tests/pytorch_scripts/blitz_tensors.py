# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# The "60-minute blitz" tensor tutorial, more or less as written there.
import numpy as np
import torch


def main():
    torch.manual_seed(0)
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    x_ones = torch.ones_like(x_data)
    print(f"Ones Tensor: \n {x_ones} \n")
    x_rand = torch.rand_like(x_data, dtype=torch.float)
    print(f"Random Tensor: \n {x_rand} \n")

    shape = (2, 3,)
    rand_tensor = torch.rand(shape)
    ones_tensor = torch.ones(shape)
    zeros_tensor = torch.zeros(shape)
    print(f"Zeros Tensor: \n {zeros_tensor}")

    tensor = torch.rand(3, 4)
    print(f"Shape of tensor: {tensor.shape}")
    print(f"Datatype of tensor: {tensor.dtype}")
    print(f"Device tensor is stored on: {tensor.device}")
    if torch.cuda.is_available():
        tensor = tensor.to("cuda")

    tensor = torch.ones(4, 4)
    print(f"First row: {tensor[0]}")
    print(f"First column: {tensor[:, 0]}")
    print(f"Last column: {tensor[..., -1]}")
    tensor[:, 1] = 0
    print(tensor)
    t1 = torch.cat([tensor, tensor, tensor], dim=1)
    print(t1.shape)

    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.rand_like(y1)
    y3 = torch.matmul(tensor, tensor.T)  # the tutorial passes out=y3: not supported by chainrule
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.rand_like(tensor)
    z3 = torch.mul(tensor, tensor)  # (out=z3 in the tutorial)

    agg = tensor.sum()
    agg_item = agg.item()
    print(agg_item, type(agg_item))
    print(f"{tensor} \n")
    tensor.add_(5)
    print(tensor)

    t = torch.ones(5)
    print(f"t: {t}")
    n = t.numpy()
    print(f"n: {n}")
    t.add_(1)
    print(f"n: {n}")  # shares memory
    n = np.ones(5)
    t = torch.from_numpy(n)
    np.add(n, 1, out=n)
    print(f"t: {t}")
    return {
        "exact_x_np_sum": int(x_np.sum()),
        "exact_y3": y3.tolist(),
        "exact_z3": z3.sum().item(),
        "exact_agg": agg_item,
        "exact_t1_shape": tuple(t1.shape),
        "exact_tensor_sum": tensor.sum().item(),
        "exact_shared": t.tolist(),
        "exact_dtype": str(x_rand.dtype),
        "rand_shape": list(rand_tensor.shape) + list(ones_tensor.size()),
        "eq": bool(torch.equal(y1, y2) and torch.equal(z1, z2)),
    }


if __name__ == "__main__":
    print(main())
