"""Atomic file writes: a crash mid-write leaves the previous file whole.

Every write goes to a temporary file in the target's directory (same file system, so the final
rename is atomic), is flushed to disk with ``fsync``, then ``os.replace``-d over the target, and
the directory itself is ``fsync``-ed so the rename survives a power cut. A reader sees either the
old file or the new one, never a mixture. If the writer raises (or the process is killed), the
target is untouched; a killed process may leave a stray ``.NAME.*.tmp`` file beside it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def fsync_path(path: str) -> None:
    """Flush a written file's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: str) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where the OS cannot."""
    if not hasattr(os, "O_DIRECTORY"):  # Windows: directories cannot be opened
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on a directory
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[Any]) -> Iterator[str]:
    """Yield a fresh temporary path beside ``path``; on success it replaces ``path`` atomically.

    ::

        with atomic_write("model.ckpt") as tmp:
            write_everything_to(tmp)      # raise here and model.ckpt is left as it was
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory,
                       f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide, as open() does
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # writers such as safetensors recreate the file 0600
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def os_error_naming(e: OSError, path: str | os.PathLike[Any], size: int | None = None) -> OSError:
    """``e`` (a failed atomic write of ``path``) as an ``OSError`` of the same errno that names
    ``path`` and the OS's reason (a bare write error, e.g. EFBIG or ENOSPC, names no file)."""
    reason = e.strerror or str(e)
    what = f" while writing {size} bytes" if size is not None else ""
    return OSError(e.errno, f"{reason}{what} (the previous file, if any, is unchanged; no "
                   "temporary file was left)", os.fspath(path))


def write_bytes_atomic(path: str | os.PathLike[Any], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_write``).

    A failure (disk full, file too large, no permission, ...) leaves no temporary file and
    raises ``OSError`` (with the OS's errno) naming ``path`` and the OS's reason."""
    try:
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            f.write(data)
            f.flush()
    except OSError as e:
        raise os_error_naming(e, path, len(data)) from e
