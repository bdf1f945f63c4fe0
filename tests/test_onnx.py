"""ONNX export: every exportable layer runs in onnxruntime with chainrule's outputs (1e-5
relative), at the traced batch size and at another one; errors name what cannot be exported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL = 1e-5


def _f32(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape).astype(
        np.float32)


def _ids(n: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, n, shape).astype(np.int64)


class Residual(nn.Module):
    """User code: a residual block with functional calls, indexing and a reshape."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)

    def forward(self, x: Any) -> Any:
        h = x + cr.nn.functional.gelu(self.fc(self.norm(x))) * 0.5
        h = h.reshape(x.shape[0], 2, 3).sum(-1)
        return cr.cat([h, h[:, :1].exp(), (h ** 2).mean(-1, keepdim=True)], dim=1)


class CellLoop(nn.Module):
    """A cell unrolled by user code over a fixed number of steps, state passed in."""

    def __init__(self, cell: Any) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, x: Any, h: Any) -> Any:
        state = (h, h) if isinstance(self.cell, nn.LSTMCell) else h
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)
        return state


def _seq(*mods: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: nn.Sequential(*(m() for m in mods))


# name: (build, inputs, dynamic axes per input (batch axis), RNN-style batch axis of outputs)
CASES: dict[str, tuple[Callable[[], Any], tuple, tuple]] = {
    "Linear": (lambda: nn.Linear(4, 3), (_f32(5, 4),), (0,)),
    "Linear3d": (lambda: nn.Linear(4, 3), (_f32(5, 2, 4),), (0,)),
    "LinearNoBias": (lambda: nn.Linear(4, 3, bias=False), (_f32(5, 4),), (0,)),
    "Identity": (lambda: nn.Identity(), (_f32(5, 4),), (0,)),
    "ReLU": (lambda: nn.ReLU(), (_f32(5, 4),), (0,)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (_f32(5, 4),), (0,)),
    "PReLU": (lambda: nn.PReLU(4, init=0.1), (_f32(5, 4, 3),), (0,)),
    "PReLU1": (lambda: nn.PReLU(), (_f32(5, 4),), (0,)),
    "ELU": (lambda: nn.ELU(0.7), (_f32(5, 4),), (0,)),
    "Hardshrink": (lambda: nn.Hardshrink(0.3), (_f32(5, 4),), (0,)),
    "Threshold": (lambda: nn.Threshold(0.1, -2.0), (_f32(5, 4),), (0,)),
    "FPReLU": (lambda: _Fn(lambda m, x: nn.functional.prelu(m.fc(x), cr.tensor([0.2]))),
               (_f32(5, 4),),
               (0,)),
    "SELU": (lambda: nn.SELU(), (_f32(5, 4),), (0,)),
    "CELU": (lambda: nn.CELU(0.5), (_f32(5, 4),), (0,)),
    "Mish": (lambda: nn.Mish(), (_f32(5, 4),), (0,)),
    "Hardswish": (lambda: nn.Hardswish(), (_f32(5, 4),), (0,)),
    "Hardsigmoid": (lambda: nn.Hardsigmoid(), (_f32(5, 4),), (0,)),
    "Softshrink": (lambda: nn.Softshrink(0.3), (_f32(5, 4),), (0,)),
    "Tanhshrink": (lambda: nn.Tanhshrink(), (_f32(5, 4),), (0,)),
    "LogSigmoid": (lambda: nn.LogSigmoid(), (_f32(5, 4),), (0,)),
    "Softsign": (lambda: nn.Softsign(), (_f32(5, 4),), (0,)),
    "RReLU": (lambda: nn.RReLU(), (_f32(5, 4),), (0,)),
    "GLU": (lambda: nn.GLU(), (_f32(5, 4),), (0,)),
    "InverseTrig": (lambda: _Fn(lambda m, x: cr.asin(0.5 * x.tanh()) + cr.acos(0.5 * x.tanh())
                                + cr.atan(x) + cr.asinh(x) + cr.acosh(x * x + 1.5)
                                + cr.atanh(0.5 * x.tanh())),
                    (_f32(5, 4),), (0,)),
    "Det": (lambda: _Fn(lambda m, x: cr.det(x)), (_f32(5, 3, 3),), (0,)),
    "Softmin": (lambda: nn.Softmin(1), (_f32(5, 4),), (0,)),
    "RMSNorm": (lambda: nn.RMSNorm(4), (_f32(5, 4),), (0,)),
    "PixelShuffle": (lambda: nn.PixelShuffle(2), (_f32(2, 8, 3, 2),), (0,)),
    "ReflectionPad2d": (lambda: nn.ReflectionPad2d(1), (_f32(2, 2, 3, 3),), (0,)),
    "Bilinear": (lambda: nn.Bilinear(3, 2, 4), (_f32(5, 3), _f32(5, 2)), (0, 0)),
    "GELU": (lambda: nn.GELU(), (_f32(5, 4),), (0,)),
    "GELUtanh": (lambda: nn.GELU(approximate="tanh"), (_f32(5, 4),), (0,)),
    "SiLU": (lambda: nn.SiLU(), (_f32(5, 4),), (0,)),
    "Sigmoid": (lambda: nn.Sigmoid(), (_f32(5, 4),), (0,)),
    "Tanh": (lambda: nn.Tanh(), (_f32(5, 4),), (0,)),
    "Softplus": (lambda: nn.Softplus(2.0, 1.0), (_f32(5, 4) * 3,), (0,)),
    "Softmax": (lambda: nn.Softmax(dim=1), (_f32(5, 4),), (0,)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), (_f32(5, 4),), (0,)),
    "Hardtanh": (lambda: nn.Hardtanh(-0.5, 0.5), (_f32(5, 4),), (0,)),
    "ReLU6": (lambda: nn.ReLU6(), (_f32(5, 4) * 5,), (0,)),
    "Step": (lambda: nn.Step(0.5), (_f32(5, 4),), (0,)),
    "Dropout": (lambda: nn.Dropout(0.5), (_f32(5, 4),), (0,)),
    "BatchNorm1d": (lambda: _trained_bn(), (_f32(5, 4),), (0,)),
    "BatchNorm1d3d": (lambda: _trained_bn(), (_f32(5, 4, 3),), (0,)),
    "LayerNorm": (lambda: nn.LayerNorm(4), (_f32(5, 4),), (0,)),
    "LayerNorm2": (lambda: nn.LayerNorm((3, 4), bias=False), (_f32(5, 3, 4),), (0,)),
    "Embedding": (lambda: nn.Embedding(10, 3), (_ids(10, 5, 7),), (0,)),
    "Flatten": (lambda: nn.Flatten(), (_f32(5, 2, 3),), (0,)),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), (_f32(5, 6),), (0,)),
    "Sequential": (_seq(lambda: nn.Flatten(), lambda: nn.Linear(6, 4), lambda: nn.Tanh(),
                        lambda: nn.Dropout(0.1), lambda: nn.Linear(4, 2)),
                   (_f32(5, 2, 3),), (0,)),
    "MLP": (lambda: nn.MLP([4, 8, 8, 3], activation="gelu", dropout=0.2),
            (_f32(5, 4),), (0,)),
    "MLPsigmoid": (lambda: nn.MLP([4, 8, 3], activation="sigmoid", output_activation="sigmoid"),
                   (_f32(5, 4),), (0,)),
    "Perceptron": (lambda: _trained_perceptron(), (_f32(5, 3),), (0,)),
    "Residual": (lambda: Residual(), (_f32(5, 6),), (0,)),
    "RNN": (lambda: nn.RNN(3, 4, num_layers=2), (_f32(6, 5, 3),), (1,)),
    "RNNrelu_bi_bf": (lambda: nn.RNN(3, 4, nonlinearity="relu", bidirectional=True,
                                     batch_first=True), (_f32(5, 6, 3),), (0,)),
    "RNN_h0": (lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True),
               (_f32(6, 5, 3), _f32(4, 5, 4)), (1, 1)),
    "RNN_unbatched": (lambda: nn.RNN(3, 4), (_f32(6, 3),), (None,)),
    "LSTM": (lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True), (_f32(6, 5, 3),), (1,)),
    "LSTM_bf_nobias": (lambda: nn.LSTM(3, 4, batch_first=True, bias=False), (_f32(5, 6, 3),),
                       (0,)),
    "GRU": (lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True), (_f32(6, 5, 3),), (1,)),
    "GRU_h0_bf": (lambda: nn.GRU(3, 4, batch_first=True), (_f32(5, 6, 3), _f32(1, 5, 4)),
                  (0, 1)),
    "RNNCell": (lambda: CellLoop(nn.RNNCell(3, 4)), (_f32(5, 4, 3), _f32(5, 4)), (0, 0)),
    "LSTMCell": (lambda: CellLoop(nn.LSTMCell(3, 4)), (_f32(5, 4, 3), _f32(5, 4)), (0, 0)),
    "GRUCell": (lambda: CellLoop(nn.GRUCell(3, 4)), (_f32(5, 4, 3), _f32(5, 4)), (0, 0)),
    "MultiheadAttention": (lambda: _mha(False), (_f32(6, 5, 8),) * 3, (1, 1, 1)),
    "MultiheadAttention_bf": (lambda: _mha(True), (_f32(5, 6, 8), _f32(5, 7, 8),
                                                   _f32(5, 7, 8)), (0, 0, 0)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1,
                                                                   batch_first=True),
                                (_f32(5, 6, 8),), (0,)),
    "TransformerEncoder": (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(
        8, 2, 16, norm_first=True, activation="gelu"), 2), (_f32(6, 5, 8),), (1,)),
    "TransformerDecoderLayer": (lambda: nn.TransformerDecoderLayer(8, 2, 16, batch_first=True),
                                (_f32(5, 6, 8), _f32(5, 7, 8)), (0, 0)),
    "Transformer": (lambda: nn.Transformer(8, 2, 1, 1, 16, batch_first=True),
                    (_f32(5, 6, 8), _f32(5, 7, 8)), (0, 0)),
    # convolution, pooling, normalisation, resampling
    "Conv1d": (lambda: nn.Conv1d(3, 4, 3), (_f32(5, 3, 10),), (0,)),
    "Conv1d_same_dil_groups_nobias": (lambda: nn.Conv1d(4, 6, 3, padding="same", dilation=2,
                                                        groups=2, bias=False),
                                      (_f32(5, 4, 9),), (0,)),
    "Conv1d_stride_pad": (lambda: nn.Conv1d(2, 3, 4, stride=3, padding=2), (_f32(5, 2, 11),),
                          (0,)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3), (_f32(5, 3, 8, 7),), (0,)),
    "Conv2d_tuples_groups": (lambda: nn.Conv2d(3, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                               dilation=(1, 2), groups=3),
                             (_f32(5, 3, 9, 8),), (0,)),
    "Conv2d_same_even_kernel": (lambda: nn.Conv2d(2, 4, 4, padding="same"), (_f32(5, 2, 7, 6),),
                                (0,)),
    "Conv2d_valid_nobias": (lambda: nn.Conv2d(2, 3, 3, padding="valid", bias=False),
                            (_f32(5, 2, 6, 6),), (0,)),
    "Conv2d_reflect": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                       (_f32(5, 2, 6, 5),), (0,)),
    "Conv2d_unbatched": (lambda: nn.Conv2d(2, 3, 3, padding=1), (_f32(2, 6, 5),), (None,)),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, output_padding=1),
                        (_f32(5, 3, 6),), (0,)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1,
                                                   output_padding=(1, 0), groups=2,
                                                   dilation=(1, 2)), (_f32(5, 4, 4, 5),), (0,)),
    "ConvTranspose2d_nobias": (lambda: nn.ConvTranspose2d(3, 2, 3, bias=False),
                               (_f32(5, 3, 4, 4),), (0,)),
    "ConvTranspose3d": (lambda: nn.ConvTranspose3d(4, 6, (3, 2, 2), stride=(2, 1, 2),
                                                   padding=(1, 0, 1), output_padding=(1, 0, 0),
                                                   groups=2, dilation=(1, 2, 1)),
                        (_f32(5, 4, 3, 3, 4),), (0,)),
    "LazyConv2d": (lambda: _dry_run(nn.LazyConv2d(4, 3, padding=1), 2, 3, 6, 5),
                   (_f32(5, 3, 6, 5),), (0,)),
    "MaxPool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), (_f32(5, 3, 10),), (0,)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (_f32(5, 3, 8, 6),), (0,)),
    "MaxPool2d_pad_ceil": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                           (_f32(5, 3, 8, 7),), (0,)),
    "MaxPool2d_ceil_odd": (lambda: nn.MaxPool2d(2, ceil_mode=True), (_f32(5, 2, 7, 5),), (0,)),
    "MaxPool2d_indices": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True,
                                               return_indices=True), (_f32(5, 2, 8, 7),), (0,)),
    "MaxPool1d_indices_unbatched": (lambda: nn.MaxPool1d(2, return_indices=True),
                                    (_f32(3, 9),), (None,)),
    "MaxPool2d_dilation": (lambda: nn.MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1)),
                           (_f32(5, 2, 7, 8),), (0,)),
    "AvgPool1d": (lambda: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False),
                  (_f32(5, 3, 10),), (0,)),
    "AvgPool1d_ceil": (lambda: nn.AvgPool1d(2, ceil_mode=True), (_f32(5, 3, 9),), (0,)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (_f32(5, 3, 8, 6),), (0,)),
    "AvgPool2d_pad_ceil": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
                           (_f32(5, 3, 8, 7),), (0,)),
    "AvgPool2d_pad_ceil_exclude": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                                        count_include_pad=False),
                                   (_f32(5, 3, 8, 7),), (0,)),
    "AvgPool2d_divisor": (lambda: nn.AvgPool2d(2, divisor_override=3), (_f32(5, 2, 6, 6),),
                          (0,)),
    "AvgPool2d_divisor_pad_ceil": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                        divisor_override=5),
                                   (_f32(5, 2, 8, 7),), (0,)),
    "AdaptiveAvgPool2d_global": (lambda: nn.AdaptiveAvgPool2d((1, 1)), (_f32(5, 3, 7, 6),),
                                 (0,)),
    "AdaptiveAvgPool2d_divisible": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (_f32(5, 3, 4, 6),),
                                    (0,)),
    "AdaptiveAvgPool2d_uneven": (lambda: nn.AdaptiveAvgPool2d((3, 4)), (_f32(5, 3, 7, 6),),
                                 (0,)),
    "AdaptiveAvgPool2d_unbatched": (lambda: nn.AdaptiveAvgPool2d(1), (_f32(3, 5, 4),),
                                    (None,)),
    "AdaptiveAvgPool1d": (lambda: nn.AdaptiveAvgPool1d(2), (_f32(5, 3, 8),), (0,)),
    "AdaptiveAvgPool1d_uneven": (lambda: nn.AdaptiveAvgPool1d(3), (_f32(5, 3, 7),), (0,)),
    "AdaptiveMaxPool2d_global": (lambda: nn.AdaptiveMaxPool2d(1), (_f32(5, 3, 7, 6),), (0,)),
    "AdaptiveMaxPool2d_divisible": (lambda: nn.AdaptiveMaxPool2d((2, 3)), (_f32(5, 3, 4, 6),),
                                    (0,)),
    "MaxPool3d_indices": (lambda: nn.MaxPool3d(2, stride=(1, 2, 2), return_indices=True),
                          (_f32(5, 2, 3, 4, 5),), (0,)),
    "MaxUnpool2d": (lambda: _PoolUnpool(2, 2), (_f32(5, 3, 6, 8),), (0,)),
    "MaxUnpool2d_overlap_size": (lambda: _PoolUnpool(2, 3, stride=2, padding=1, sized=True),
                                 (_f32(5, 2, 7, 6),), (0,)),
    "MaxUnpool1d_unbatched": (lambda: _PoolUnpool(1, 2, sized=True), (_f32(3, 9),), (None,)),
    "MaxUnpool3d": (lambda: _PoolUnpool(3, 2), (_f32(5, 2, 4, 2, 6),), (0,)),
    "FMaxUnpool2d_const": (lambda: _Fn(lambda m, x: nn.functional.max_unpool2d(
        x, cr.tensor(_UNPOOL_IDX), 2)), (_f32(2, 2, 2, 3),), (None,)),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2), (_f32(5, 3, 6, 4),), (0,)),
    "LPPool1d_p4_stride": (lambda: nn.LPPool1d(4, 3, stride=2), (_f32(5, 3, 9),), (0,)),
    "LPPool2d_ceil": (lambda: nn.LPPool2d(2, 2, ceil_mode=True), (_f32(5, 3, 5, 4),), (0,)),
    "LPPool3d_p1": (lambda: nn.LPPool3d(1, 2), (_f32(5, 2, 4, 2, 4),), (0,)),
    "LPPool2d_inf": (lambda: nn.LPPool2d(float("inf"), (2, 3)), (_f32(5, 2, 4, 6),), (0,)),
    "LPPool1d_fractional": (lambda: _Fn(lambda m, x: nn.LPPool1d(1.5, 2)(x.abs())),
                            (_f32(5, 3, 8),), (0,)),
    "FLPPool2d": (lambda: _Fn(lambda m, x: nn.functional.lp_pool2d(x, 3, 2, ceil_mode=True)),
                  (np.abs(_f32(5, 2, 5, 4)),), (0,)),
    "AdaptiveMaxPool1d": (lambda: nn.AdaptiveMaxPool1d(3), (_f32(5, 3, 9),), (0,)),
    "AdaptiveMaxPool3d_global": (lambda: nn.AdaptiveMaxPool3d(1), (_f32(5, 2, 3, 4, 5),), (0,)),
    "AdaptiveMaxPool3d": (lambda: nn.AdaptiveMaxPool3d((1, 2, 3)), (_f32(5, 2, 3, 4, 6),),
                          (0,)),
    "Dropout1d": (lambda: nn.Dropout1d(0.3), (_f32(5, 3, 4),), (0,)),
    "Dropout3d": (lambda: nn.Dropout3d(0.3), (_f32(5, 3, 2, 2, 2),), (0,)),
    "FeatureAlphaDropout": (lambda: nn.FeatureAlphaDropout(0.3), (_f32(5, 3, 4),), (0,)),
    "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(scale_factor=2), (_f32(5, 2, 3, 4),),
                            (0,)),
    "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(size=(5, 7)), (_f32(5, 2, 3, 4),),
                             (0,)),
    "BatchNorm2d": (lambda: _trained_bn(nn.BatchNorm2d(4), 8, 4, 3, 3), (_f32(5, 4, 3, 3),),
                    (0,)),
    "BatchNorm2d_batch_stats": (lambda: nn.BatchNorm2d(4, track_running_stats=False),
                                (_f32(5, 4, 3, 3),), (0,)),
    "BatchNorm1d_noaffine": (lambda: _trained_bn(nn.BatchNorm1d(4, affine=False), 8, 4),
                             (_f32(5, 4),), (0,)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (_f32(5, 4, 3, 3),), (0,)),
    "GroupNorm_noaffine": (lambda: nn.GroupNorm(1, 4, affine=False), (_f32(5, 4, 6),), (0,)),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(3), (_f32(5, 3, 4, 4),), (0,)),
    "InstanceNorm2d_affine": (lambda: _affine(nn.InstanceNorm2d(3, affine=True)),
                              (_f32(5, 3, 4, 5),), (0,)),
    "InstanceNorm2d_running": (lambda: _trained_bn(nn.InstanceNorm2d(
        3, affine=True, track_running_stats=True), 8, 3, 4, 4), (_f32(5, 3, 4, 4),), (0,)),
    "InstanceNorm2d_unbatched": (lambda: nn.InstanceNorm2d(3), (_f32(3, 4, 5),), (None,)),
    "InstanceNorm1d": (lambda: nn.InstanceNorm1d(3), (_f32(5, 3, 7),), (0,)),
    "InstanceNorm1d_affine_unbatched": (lambda: _affine(nn.InstanceNorm1d(3, affine=True)),
                                        (_f32(3, 7),), (None,)),
    "InstanceNorm3d_affine": (lambda: _affine(nn.InstanceNorm3d(2, affine=True)),
                              (_f32(5, 2, 3, 4, 3),), (0,)),
    "InstanceNorm3d_running": (lambda: _trained_bn(nn.InstanceNorm3d(
        2, affine=True, track_running_stats=True), 8, 2, 3, 3, 2), (_f32(5, 2, 3, 3, 2),), (0,)),
    "InstanceNorm3d_unbatched": (lambda: nn.InstanceNorm3d(2), (_f32(2, 3, 2, 4),), (None,)),
    "LazyInstanceNorm2d": (lambda: _dry_run(nn.LazyInstanceNorm2d(), 4, 3, 4, 4),
                           (_f32(5, 3, 4, 4),), (0,)),
    "Dropout2d": (lambda: nn.Dropout2d(0.3), (_f32(5, 3, 2, 2),), (0,)),
    "Flatten_dims": (lambda: nn.Flatten(2), (_f32(5, 2, 3, 4),), (0,)),
    "Flatten_all": (lambda: nn.Flatten(0), (_f32(5, 2, 3),), (0,)),
    "Upsample_nearest": (lambda: nn.Upsample(scale_factor=2), (_f32(5, 2, 3, 4),), (0,)),
    "Upsample_nearest_size": (lambda: nn.Upsample(size=(5, 7)), (_f32(5, 2, 3, 4),), (0,)),
    "Upsample_nearest_1d": (lambda: nn.Upsample(scale_factor=3), (_f32(5, 2, 4),), (0,)),
    "Upsample_bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
                          (_f32(5, 2, 3, 4),), (0,)),
    "Upsample_bilinear_align": (lambda: nn.Upsample(scale_factor=(1.5, 2), mode="bilinear",
                                                    align_corners=True), (_f32(5, 2, 4, 3),),
                                (0,)),
    "Upsample_bilinear_size": (lambda: nn.Upsample(size=(7, 5), mode="bilinear"),
                               (_f32(5, 2, 3, 4),), (0,)),
    "Upsample_linear_1d": (lambda: nn.Upsample(size=9, mode="linear"), (_f32(5, 2, 4),), (0,)),
    "Functional": (lambda: _Functional(), (_f32(5, 2, 9, 8),), (0,)),
    "LeNet5": (lambda: _lenet5(), (_f32(5, 1, 28, 28),), (0,)),
    "CNN_BatchNorm_GAP": (lambda: _bn_cnn(), (_f32(5, 3, 16, 16),), (0,)),
}

# The ONNX operator each layer becomes (checked in the exported graph).
NATURAL_OP = {
    "Conv1d": "Conv", "Conv2d": "Conv", "Conv2d_same_even_kernel": "Conv",
    "Conv2d_tuples_groups": "Conv", "ConvTranspose1d": "ConvTranspose",
    "ConvTranspose2d": "ConvTranspose", "ConvTranspose3d": "ConvTranspose",
    "LazyConv2d": "Conv", "MaxPool1d": "MaxPool", "MaxPool2d": "MaxPool",
    "MaxPool2d_pad_ceil": "MaxPool", "MaxPool2d_dilation": "MaxPool", "AvgPool1d": "AveragePool",
    "AvgPool2d": "AveragePool", "AvgPool2d_pad_ceil": "AveragePool",
    "AvgPool2d_divisor": "AveragePool", "AdaptiveAvgPool2d_global": "GlobalAveragePool",
    "AdaptiveAvgPool2d_divisible": "AveragePool", "AdaptiveAvgPool2d_uneven": "MatMul",
    "AdaptiveAvgPool1d": "AveragePool", "AdaptiveMaxPool2d_global": "GlobalMaxPool",
    "AdaptiveMaxPool2d_divisible": "MaxPool", "BatchNorm2d": "BatchNormalization",
    "BatchNorm1d_noaffine": "BatchNormalization", "BatchNorm2d_batch_stats": "ReduceMean",
    "GroupNorm": "LayerNormalization", "InstanceNorm2d": "InstanceNormalization",
    "InstanceNorm2d_running": "BatchNormalization", "InstanceNorm1d": "InstanceNormalization",
    "InstanceNorm1d_affine_unbatched": "InstanceNormalization",
    "InstanceNorm3d_affine": "InstanceNormalization",
    "InstanceNorm3d_running": "BatchNormalization",
    "InstanceNorm3d_unbatched": "InstanceNormalization",
    "LazyInstanceNorm2d": "BatchNormalization", "Flatten": "Flatten",
    "Upsample_nearest": "Resize", "Upsample_bilinear": "Resize", "Upsample_linear_1d": "Resize",
    "LeNet5": "Conv", "CNN_BatchNorm_GAP": "GlobalAveragePool", "MaxUnpool2d": "MaxUnpool",
    "MaxUnpool3d": "MaxUnpool", "FMaxUnpool2d_const": "MaxUnpool", "LPPool2d": "LpPool",
    "LPPool1d_p4_stride": "LpPool", "LPPool2d_ceil": "AveragePool", "LPPool3d_p1": "AveragePool",
    "LPPool2d_inf": "MaxPool", "AdaptiveMaxPool1d": "MaxPool",
    "AdaptiveMaxPool3d_global": "GlobalMaxPool", "AdaptiveMaxPool3d": "MaxPool",
    "UpsamplingNearest2d": "Resize", "UpsamplingBilinear2d": "Resize",
}


class _Functional(nn.Module):
    """The functional forms, called from user code."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(cr.tensor(_f32(4, 2, 3, 3)))
        self.register_buffer("mean", cr.tensor(_f32(4)))
        self.register_buffer("var", cr.tensor(_f32(4) ** 2 + 0.5))

    def forward(self, x: Any) -> Any:
        F = cr.nn.functional
        h = F.conv2d(x, self.w, None, 1, "same")
        h = F.batch_norm(h, self.mean, self.var, training=False)
        h = F.max_pool2d(F.relu(h), 2, ceil_mode=True)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.avg_pool2d(h, 3, 1, 1) + F.adaptive_avg_pool2d(h, (1, 1))
        return F.conv_transpose2d(h, self.w, stride=2)


class _PoolUnpool(nn.Module):
    """MaxPool with indices, then MaxUnpool (SegNet's decoder step), back to the input size
    when ``sized``."""

    def __init__(self, nd: int, k: int, sized: bool = False, **kw: Any) -> None:
        super().__init__()
        self.nd, self.sized = nd, sized
        self.pool = getattr(nn, f"MaxPool{nd}d")(k, return_indices=True, **kw)
        self.unpool = getattr(nn, f"MaxUnpool{nd}d")(k, **kw)

    def forward(self, x: Any) -> Any:
        y, i = self.pool(x)
        return self.unpool(y, i, output_size=x.shape[-self.nd:] if self.sized else None)


_UNPOOL_IDX = np.array([[[[0, 3, 4], [6, 9, 11]], [[1, 2, 5], [7, 8, 10]]]] * 2, np.int64)


def _lenet5() -> Any:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _bn_cnn() -> Any:
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Dropout2d(0.2), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(16, 10))
    m.train()
    with cr.no_grad():
        for _ in range(3):  # running statistics off 0 and 1
            m(cr.tensor(_f32(8, 3, 16, 16) * 2 + 1))
    return m


def _affine(m: Any) -> Any:
    with cr.no_grad():
        m.weight.copy_(cr.tensor(_f32(m.weight.shape[0]) + 1))
        m.bias.copy_(cr.tensor(_f32(m.bias.shape[0], 1).reshape(-1)))
    return m


def _trained_bn(bn: Any = None, *shape: int) -> Any:
    bn = nn.BatchNorm1d(4) if bn is None else bn
    for _ in range(3):  # move the running statistics off 0 and 1
        bn(cr.tensor(_f32(*(shape or (8, 4))) * 2 + 1))
    if bn.weight is not None:
        with cr.no_grad():
            bn.weight.mul_(1.5)
            bn.bias.add_(0.3)
    return bn


def _dry_run(m: Any, *shape: int) -> Any:
    """A lazy layer after its first call (sized, and now the concrete class)."""
    m(cr.tensor(_f32(*shape) * 2 + 1))
    return m


def _trained_perceptron() -> Any:
    p = nn.Perceptron(3)
    p.fit(_f32(20, 3), (_f32(20) > 0).astype(np.int64), epochs=3)
    return p


class _MHA(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)

    def forward(self, q: Any, k: Any, v: Any) -> Any:
        return self.attn(q, k, v)


def _mha(batch_first: bool) -> Any:
    return _MHA(batch_first)


def _run(path: str, names: list[str], arrays: list[np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(names, arrays)))


def _expected(model: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    from chainrule.onnx.export import _flatten

    with cr.no_grad():
        return [t.detach().numpy() for t in _flatten(model(*(cr.tensor(a) for a in arrays)))]


def _grow(a: np.ndarray, axis: int | None, n: int, seed: int) -> np.ndarray:
    """Another input: ``n`` along the batch axis, new values."""
    if axis is None:
        return a
    shape = list(a.shape)
    shape[axis] = n
    if a.dtype.kind == "i":
        return np.random.default_rng(seed).integers(0, 10, shape).astype(a.dtype)
    return np.random.default_rng(seed).standard_normal(shape).astype(a.dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_runs_in_onnxruntime(case: str, tmp_path: Any) -> None:
    build, inputs, axes = CASES[case]
    cr.manual_seed(0)
    model = build()
    model.eval()
    names = [f"in{i}" for i in range(len(inputs))]
    dyn = {n: {ax: "batch"} for n, ax in zip(names, axes) if ax is not None}
    path = str(tmp_path / f"{case}.onnx")
    proto = cr.onnx.export(model, tuple(cr.tensor(a) for a in inputs), path,
                           input_names=names, dynamic_axes=dyn)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    if case in NATURAL_OP:
        assert NATURAL_OP[case] in {n.op_type for n in proto.graph.node}, case
    for n_batch, seed in ((None, 0), (3, 1), (9, 2)):
        arrays = list(inputs) if n_batch is None else [
            _grow(a, ax, n_batch, seed + i) for i, (a, ax) in enumerate(zip(inputs, axes))]
        got, want = _run(path, names, arrays), _expected(model, arrays)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape, (case, n_batch)
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * max(1.0, np.abs(w).max()),
                                       err_msg=f"{case} at batch {n_batch}")


# --- what cannot be exported says what and why --------------------------------------------------

def _export_error(model: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(cr.onnx.UnsupportedOperatorError) as e:
        cr.onnx.export(model, args, None, **kw)
    return str(e.value)


class _Fn(nn.Module):
    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.fn = fn

    def forward(self, x: Any) -> Any:
        return self.fn(self, x)


def test_loss_is_not_exported() -> None:
    m = _Fn(lambda s, x: cr.nn.functional.mse_loss(s.fc(x), x))
    msg = _export_error(m, cr.tensor(_f32(3, 4)))
    assert msg.startswith("mse_loss:") and "losses are not exported" in msg


def test_value_computed_outside_the_graph_is_caught() -> None:
    m = _Fn(lambda s, x: s.fc(x) * cr.tensor((x.detach().numpy() > 0).astype(np.float32)))
    msg = _export_error(m, cr.tensor(_f32(3, 4)))
    assert msg.startswith("mul_") and "outside the recorded ops" in msg


def test_batch_sized_constant_is_caught_with_dynamic_batch() -> None:
    m = _Fn(lambda s, x: s.fc(x) + cr.ones(x.shape[0], 4))
    cr.onnx.export(m, (cr.tensor(_f32(3, 4)),), None)  # static batch: fine
    msg = _export_error(m, cr.tensor(_f32(3, 4)), input_names=["x"],
                        dynamic_axes={"x": [0]})
    assert msg.startswith("add_") and "dynamic axes of x" in msg


def test_python_branch_on_values_is_caught() -> None:
    m = _Fn(lambda s, x: s.fc(x).relu() if float(x.sum()) > 0 else s.fc(x).tanh())
    x = _f32(3, 4)
    x[0, 0] -= x.sum() + 1.0  # sum -1; the check trace flips the signs: the other branch
    msg = _export_error(m, cr.tensor(x))
    assert "different" in msg


def test_layer_without_onnx_form_is_named() -> None:
    msg = _export_error(nn.LSTM(3, 4, proj_size=2), cr.tensor(_f32(5, 2, 3)))
    assert msg.startswith("LSTM(proj_size=2)")
    msg = _export_error(nn.Embedding(10, 3, max_norm=1.0), cr.tensor(_ids(10, 4)))
    assert msg.startswith("Embedding(max_norm")


def test_options_and_outputs(tmp_path: Any) -> None:
    import io

    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2), nn.LogSoftmax(-1))
    buf = io.BytesIO()
    proto = cr.onnx.export(m, cr.tensor(_f32(3, 4)), buf, input_names=["x"],
                           output_names=["logp"], dynamic_axes={"x": {0: "n"}, "logp": {0: "n"}},
                           opset_version=18)
    assert proto.opset_import[0].version == 18
    assert [i.name for i in proto.graph.initializer if "." in i.name] == list(m.state_dict())
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["n", 2]
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x = _f32(7, 4)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], _expected(m, [x])[0], rtol=RTOL)
    with pytest.raises(ValueError, match="opset_version=12"):
        cr.onnx.export(m, cr.tensor(_f32(3, 4)), None, opset_version=12)
    with pytest.raises(ValueError, match="dynamic_axes names 'y'"):
        cr.onnx.export(m, cr.tensor(_f32(3, 4)), None, dynamic_axes={"y": [0]})


def test_model_left_in_its_mode() -> None:
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    m.train()
    cr.onnx.export(m, cr.tensor(_f32(3, 4)), None)
    assert all(mod.training for mod in m.modules())


def test_unsupported_pooling_configurations_say_why() -> None:
    msg = _export_error(nn.AdaptiveMaxPool2d(3), cr.tensor(_f32(2, 3, 7, 7)))
    assert msg.startswith("AdaptiveMaxPool2d(output_size=3): on a 7x7 input the windows have "
                          "unequal sizes")
    msg = _export_error(nn.AdaptiveMaxPool2d(2, return_indices=True), cr.tensor(_f32(2, 3, 8, 8)))
    assert msg.startswith("AdaptiveMaxPool2d(return_indices=True)")
    # the functional form picks its windows' arg-max outside the recorded ops: caught
    m = _Fn(lambda s, x: cr.nn.functional.adaptive_max_pool2d(x, 2))
    assert "outside the recorded ops" in _export_error(m, cr.tensor(_f32(2, 4, 8, 8)))
    # pooling windows chosen from the input size cannot follow a dynamic spatial size
    msg = _export_error(nn.AdaptiveAvgPool2d(2), cr.tensor(_f32(2, 3, 8, 8)), input_names=["x"],
                        dynamic_axes={"x": [0, 2, 3]})
    assert msg.startswith("AdaptiveAvgPool2d_") and "exported differently" in msg


def test_conv_and_pool_follow_dynamic_spatial_axes(tmp_path: Any) -> None:
    cr.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.AvgPool2d(3, 1, 1))
    path = str(tmp_path / "m.onnx")
    cr.onnx.export(m, cr.tensor(_f32(2, 2, 8, 8)), path, input_names=["x"],
                   dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    for shape in ((3, 2, 12, 10), (1, 2, 6, 16)):
        x = _f32(*shape)
        got, want = _run(path, ["x"], [x])[0], _expected(m, [x])[0]
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())


def test_batchnorm_in_training_mode_exports_eval_semantics(tmp_path: Any) -> None:
    """As torch.onnx.export's default (TrainingMode.EVAL): the running statistics are used,
    the model is left in training mode; training=True is refused."""
    m = _bn_cnn()
    m.train()
    path = str(tmp_path / "m.onnx")
    cr.onnx.export(m, cr.tensor(_f32(2, 3, 16, 16)), path)
    assert m.training and m[1].training
    m.eval()
    x = _f32(2, 3, 16, 16)
    np.testing.assert_allclose(_run(path, ["input"], [x])[0], _expected(m, [x])[0],
                               rtol=RTOL, atol=RTOL)
    with pytest.raises(ValueError, match="training=True is not supported"):
        cr.onnx.export(m, cr.tensor(x), None, training=True)
