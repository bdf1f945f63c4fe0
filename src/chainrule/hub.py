"""``cr.hub``, as scripts use ``torch.hub``: chainrule downloads nothing (no code, no weights),
so ``load``, ``load_state_dict_from_url``, ``download_url_to_file``, ``list`` and ``help``
raise an error that says how to load a local file instead. ``get_dir`` / ``set_dir`` keep a
directory name, as PyTorch's do."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url",
           "set_dir"]

_DIR = [os.path.join(os.path.expanduser(os.environ.get("TORCH_HOME", "~/.cache/torch")), "hub")]

_LOCAL = ("download the file yourself and load it from disk: "
          "model.load_state_dict(cr.io.load_safetensors('model.safetensors')) for a "
          "safetensors file (PyTorch's, Hugging Face's), or cr.load('weights.pt') for one that "
          "cr.save wrote; a PyTorch .pt/.pth file is a pickle, which chainrule never loads: "
          "convert it where torch is installed with "
          "safetensors.torch.save_file(torch.load(path), 'model.safetensors')")


def _refuse(what: str, target: Any) -> RuntimeError:
    return RuntimeError(f"cr.hub.{what}({target!r}): chainrule does not download code or "
                        f"weights from the network (there is no torch.hub here); {_LOCAL}")


def load(repo_or_dir: str, model: str, *args: Any, **kwargs: Any) -> Any:
    """Refuses: no downloads (see the error for loading a local file)."""
    raise _refuse("load", f"{repo_or_dir}:{model}")


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location: Any = None,
                             progress: bool = True, check_hash: bool = False,
                             file_name: str | None = None, weights_only: bool = False) -> Any:
    """Refuses: no downloads (see the error for loading a local file)."""
    raise _refuse("load_state_dict_from_url", url)


def download_url_to_file(url: str, dst: str, hash_prefix: str | None = None,
                         progress: bool = True) -> None:
    """Refuses: no downloads."""
    raise _refuse("download_url_to_file", url)


def list(github: str, force_reload: bool = False, skip_validation: bool = False,
         trust_repo: Any = None, verbose: bool = True) -> Any:
    """Refuses: no downloads."""
    raise _refuse("list", github)


def help(github: str, model: str, force_reload: bool = False, skip_validation: bool = False,
         trust_repo: Any = None) -> Any:
    """Refuses: no downloads."""
    raise _refuse("help", f"{github}:{model}")


def get_dir() -> str:
    """The hub cache directory PyTorch would use (``$TORCH_HOME/hub``); nothing is written."""
    return _DIR[0]


def set_dir(d: str) -> None:
    """Record a hub directory (returned by ``get_dir``); nothing is written there."""
    _DIR[0] = os.path.expanduser(str(d))
