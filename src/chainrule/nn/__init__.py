"""Neural-network building blocks with PyTorch's names: ``Module``, layers, losses, init."""
