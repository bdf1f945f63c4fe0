"""Functional forms of the layers, activations and losses (``torch.nn.functional``)."""
