"""``chainrule.utils.data`` is ``chainrule.data`` (PyTorch's ``torch.utils.data`` path).

The alias is the same module object, and so are its submodules
(``chainrule.utils.data.dataset`` is ``chainrule.data.dataset``), so classes are identical
whichever path imported them.
"""

import sys

import chainrule.data as _data
from chainrule.data import collate, dataloader, dataset, datasets, sampler, transforms

for _mod in (collate, dataloader, dataset, datasets, sampler, transforms):
    sys.modules[f"{__name__}.{_mod.__name__.rsplit('.', 1)[1]}"] = _mod
sys.modules[__name__] = _data
