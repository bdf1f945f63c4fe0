"""Variable-length batches for recurrent layers (``torch.nn.utils.rnn``).

A batch of sequences of different lengths is either *padded* (one (T, B, *) tensor, the short
sequences filled with ``padding_value``) or *packed* (a ``PackedSequence``: the time steps laid
end to end, step t holding the ``batch_sizes[t]`` sequences still running, longest first).
``nn.RNN``/``LSTM``/``GRU`` accept a ``PackedSequence`` and then stop each sequence at its own
length: ``h_n`` holds each sequence's state after its last real step, not after the padding.

Every function here is differentiable in its data (one ``cat`` and one gather each), so the
gradient flows back through packing and unpacking to the padded input.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, NamedTuple

from chainrule import backend, creation, ops
from chainrule.autograd.factories import as_tensor, tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape, op_error

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """A packed batch of variable-length sequences, as ``torch.nn.utils.rnn.PackedSequence``.

    ``data`` is (sum of lengths, *): time step 0 of every sequence, then step 1 of those still
    running, and so on, longest sequence first. ``batch_sizes[t]`` (int64, one per time step) is
    how many sequences step t holds. ``sorted_indices`` maps packed position to the original
    batch position (None when the batch was already sorted: ``enforce_sorted=True``);
    ``unsorted_indices`` is its inverse. Build one with ``pack_padded_sequence`` or
    ``pack_sequence``, never by hand.
    """

    def __new__(cls, data: Any, batch_sizes: Any = None, sorted_indices: Any = None,
                unsorted_indices: Any = None) -> PackedSequence:
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with_data(self, data: Tensor) -> PackedSequence:
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same packing with ``data.to(...)`` (dtype moves; the index tensors stay int64)."""
        return self._with_data(self.data.to(*args, **kwargs))

    def float(self) -> PackedSequence:
        return self._with_data(self.data.float())

    def double(self) -> PackedSequence:
        return self._with_data(self.data.double())

    def half(self) -> PackedSequence:
        return self._with_data(self.data.half())

    def cpu(self) -> PackedSequence:
        return self

    @property
    def is_cuda(self) -> bool:
        return False

    def _lengths(self) -> list[int]:
        """Each packed column's length (in packed, i.e. sorted, order)."""
        sizes = _int_list(self.batch_sizes)
        return [sum(1 for b in sizes if b > i) for i in range(sizes[0])] if sizes else []


def _int_list(v: Any) -> list[int]:
    if isinstance(v, Tensor):
        return [int(i) for i in backend.to_numpy(v._data).reshape(-1)]
    return [int(i) for i in backend.xp.asarray(v).reshape(-1)]


def _index_tensor(values: Sequence[int]) -> Tensor:
    return tensor(backend.xp.asarray(values, dtype=backend.int64))


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation of 0..n-1 (``unsorted_indices`` from ``sorted_indices``)."""
    if permutation is None:
        return None
    perm = _int_list(permutation)
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return _index_tensor(inv)


def _lengths_arg(who: str, lengths: Any) -> list[int]:
    if isinstance(lengths, Tensor) and lengths.dtype.kind == "f":
        raise op_error(who, f"lengths has dtype {lengths.dtype}", "an int64 tensor or a list of "
                       "ints", kind=TypeError)
    out = _int_list(lengths)
    if any(n <= 0 for n in out):
        raise op_error(who, f"lengths {out} contain a length <= 0",
                       "every sequence to have at least one element", kind=ValueError)
    return out


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch: ``input`` is (T, B, *) (or (B, T, *) with ``batch_first``) and
    ``lengths`` the B sequence lengths.

    With ``enforce_sorted=True`` the lengths must be in decreasing order (an error says so);
    with ``False`` the batch is sorted here and ``sorted_indices`` remembers the order, so that
    ``pad_packed_sequence`` and the recurrent layers' ``h_n`` come back in the original order.
    """
    x = input if isinstance(input, Tensor) else as_tensor(input)
    lens = _lengths_arg("pack_padded_sequence", lengths)
    if x.dim() < 2:
        raise op_error("pack_padded_sequence", f"input has shape {fmt_shape(x.shape)}",
                       "a padded batch of shape (T, B, *) or (B, T, *) with batch_first=True")
    if batch_first:
        x = ops.transpose(x, 0, 1)
    T, B = x.shape[0], x.shape[1]
    if len(lens) != B:
        raise op_error("pack_padded_sequence", f"{len(lens)} lengths for a batch of {B} "
                       f"sequences (input {fmt_shape(x.shape)}, batch_first={batch_first})",
                       "one length per sequence")
    if max(lens) > T:
        raise op_error("pack_padded_sequence", f"a length of {max(lens)} in a padded batch of "
                       f"{T} time steps", f"lengths <= {T}", kind=ValueError)
    if enforce_sorted:
        if any(a < b for a, b in pairwise(lens)):
            raise op_error("pack_padded_sequence", f"lengths {lens} are not sorted in "
                           "decreasing order", "decreasing lengths when enforce_sorted=True",
                           "pass enforce_sorted=False to sort them here", kind=RuntimeError)
        order, sorted_indices = list(range(B)), None
    else:
        order = sorted(range(B), key=lambda i: -lens[i])  # stable, as torch.sort's
        sorted_indices = _index_tensor(order)
    slens = [lens[i] for i in order]
    batch_sizes = [sum(1 for n in slens if n > t) for t in range(slens[0])]
    t_idx = [t for t, bs in enumerate(batch_sizes) for _ in range(bs)]
    b_idx = [order[b] for bs in batch_sizes for b in range(bs)]
    data = x[_index_tensor(t_idx), _index_tensor(b_idx)]
    return PackedSequence(data, _index_tensor(batch_sizes), sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: returns ``(padded, lengths)`` with ``padded`` of shape
    (T, B, *) (or (B, T, *)), in the original batch order, and ``lengths`` an int64 tensor.
    ``total_length`` pads to that many steps (e.g. to match the input of a ``DataParallel``)."""
    data, sizes = sequence.data, _int_list(sequence.batch_sizes)
    T, B = len(sizes), sizes[0]
    if total_length is not None:
        if total_length < T:
            raise op_error("pad_packed_sequence", f"total_length={total_length} is shorter than "
                           f"the longest sequence ({T} steps)", f"total_length >= {T}",
                           kind=ValueError)
        T = total_length
    unsorted = (list(range(B)) if sequence.unsorted_indices is None
                else _int_list(sequence.unsorted_indices))
    slens = sequence._lengths()
    # row index into [data; padding row] for every (t, original b)
    starts = [0]
    for bs in sizes:
        starts.append(starts[-1] + bs)
    pad_row = starts[-1]
    grid = [[starts[t] + unsorted[b] if t < slens[unsorted[b]] else pad_row for b in range(B)]
            for t in range(T)]
    filler = creation.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    padded = ops.cat([data, filler], 0)[_index_tensor(grid)]
    if batch_first:
        padded = ops.transpose(padded, 0, 1)
    return padded, _index_tensor([slens[u] for u in unsorted])


def pad_sequence(sequences: Sequence[Any] | Tensor, batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of shape (L_i, *) into one (T, B, *) tensor (or (B, T, *) with
    ``batch_first``), T the longest L_i, the rest filled with ``padding_value`` on
    ``padding_side`` ('right' or 'left')."""
    if padding_side not in ("right", "left"):
        raise op_error("pad_sequence", f"padding_side {padding_side!r}", "'left' or 'right'",
                       kind=ValueError)
    seqs = [s if isinstance(s, Tensor) else as_tensor(s) for s in sequences]
    if not seqs:
        raise op_error("pad_sequence", "got no sequences", "at least one tensor",
                       kind=RuntimeError)
    trailing = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.dim() == 0 or s.shape[1:] != trailing:
            raise op_error("pad_sequence", f"sequence {i} has shape {fmt_shape(s.shape)} but "
                           f"sequence 0 has {fmt_shape(seqs[0].shape)}",
                           f"every sequence of shape (L_i, {', '.join(map(str, trailing))})")
    lens = [s.shape[0] for s in seqs]
    T = max(lens)
    starts = [0]
    for n in lens:
        starts.append(starts[-1] + n)
    pad_row = starts[-1]
    grid = []
    for t in range(T):
        row = []
        for b, n in enumerate(lens):
            i = t if padding_side == "right" else t - (T - n)
            row.append(starts[b] + i if 0 <= i < n else pad_row)
        grid.append(row)
    filler = creation.full((1, *trailing), padding_value, dtype=seqs[0].dtype)
    out = ops.cat([*seqs, filler], 0)[_index_tensor(grid)]
    return ops.transpose(out, 0, 1) if batch_first else out


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of shape (L_i, *): ``pad_sequence`` then
    ``pack_padded_sequence`` (with ``enforce_sorted``, the lengths must be decreasing)."""
    seqs = list(sequences)
    return pack_padded_sequence(pad_sequence(seqs), [len(s) for s in seqs],
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths: Any,
                   batch_first: bool = False) -> list[Tensor]:
    """The list of sequences (L_i, *) in a padded batch (the inverse of ``pad_sequence``)."""
    x = ops.transpose(padded_sequences, 0, 1) if batch_first else padded_sequences
    return [x[:n, b] for b, n in enumerate(_lengths_arg("unpad_sequence", lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences in a ``PackedSequence`` (the inverse of ``pack_sequence``)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

