"""chainrule: backpropagation made real and visible.

A reverse-mode autodiff engine on NumPy arrays with PyTorch's names::

    import chainrule as cr
    w = cr.randn(3, requires_grad=True)
    loss = (w * w).sum()
    loss.backward()          # w.grad == 2 * w
"""

from chainrule import (
    autograd,
    func,
    ops,
)
from chainrule.autograd import (
    backward,
    enable_grad,
    finite_difference,
    grad,
    gradcheck,
    gradgradcheck,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from chainrule.autograd.dtypes import get_default_dtype, set_default_dtype
from chainrule.autograd.factories import as_tensor, from_numpy, tensor
from chainrule.autograd.printing import set_printoptions
from chainrule.autograd.tensor import Tensor
from chainrule.backend import (
    backends,
    bfloat16,
    cpu,
    cuda,
    device,
    float16,
    float32,
    float64,
    get_default_device,
    int8,
    int16,
    int32,
    int64,
    mps,
    set_default_device,
    uint8,
)
from chainrule.backend import (
    bool_ as bool,
)
from chainrule.creation import (
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    arange,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    linspace,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    zeros,
    zeros_like,
)
from chainrule.ops import *
from chainrule.random import Generator, get_rng_state, manual_seed, seed, set_rng_state
from chainrule.runtime import (
    Size,
    are_deterministic_algorithms_enabled,
    finfo,
    get_float32_matmul_precision,
    get_num_threads,
    iinfo,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    set_num_threads,
    use_deterministic_algorithms,
)

half = float16
float = float32
double = float64
long = int64
int = int32

__version__ = "0.1.0"

# nn, optim, distributions, linalg and amp (mixed precision) sit above the core they import
from chainrule import amp, distributions, linalg, nn, optim  # noqa: E402
from chainrule.amp import (  # noqa: E402
    autocast,
    get_autocast_dtype,
    is_autocast_enabled,
    set_autocast_dtype,
)
from chainrule.compile import (  # noqa: E402  (record-and-replay of a training step)
    CompileError,
    CompileWarning,
    compile,
)
from chainrule.func import vmap  # noqa: E402
from chainrule.io import load, save  # noqa: E402  (io sits above the core it imports)

cuda.amp, cpu.amp = amp.cuda_amp, amp.cpu_amp  # cr.cuda.amp.autocast / GradScaler (deprecated)

# Submodules imported on first use (cr.utils.data.DataLoader, cr.viz, cr.exercise, cr.data, ...),
# so that `import chainrule` stays fast and loads none of them.
_LAZY = {"data", "exercise", "hub", "io", "jit", "onnx", "profiler", "special", "testing", "train",
         "utils", "viz"}


def explain(loss: Tensor, params: object = None, format: str = "text",
            width: object = None) -> str:
    """The forward and backward pass behind scalar ``loss``, step by step with the numbers:
    ``print(cr.explain(loss, params=model))``. ``params``: a Module or a dict name -> tensor
    that names the leaves; ``format``: "text", "markdown" or "html"; ``width``: text lines fit
    that many columns. (``chainrule.viz.explain``,
    imported on first call: ``import chainrule`` does not load viz.)"""
    from chainrule.viz.explain import explain as _explain

    return _explain(loss, params, format, width)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
