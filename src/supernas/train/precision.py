"""Numeric precision and memory-layout options of training steps: bf16 autocast, channels-last,
cuDNN autotuning. The trainer and the benchmarks build their steps from these, so a benchmark
row measures exactly what ``supernas train`` runs with the same options."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from supernas.errors import SupernasError

AMP_DTYPES = {"none": None, "bfloat16": torch.bfloat16}
"""``train.amp_dtype`` values and the autocast dtype each selects (``none``: fp32 throughout).
float16 is not offered: it needs loss scaling, bf16 does not."""


def amp_dtype(name: str) -> torch.dtype | None:
    """The autocast dtype named ``name`` (``None`` for fp32), or a one-line error."""
    if name not in AMP_DTYPES:
        raise SupernasError(f"unknown train.amp_dtype {name!r}; expected one of {', '.join(AMP_DTYPES)}")
    return AMP_DTYPES[name]


def autocast(device: torch.device, name: str) -> contextlib.AbstractContextManager:
    """The forward-pass context for ``train.amp_dtype`` ``name`` on ``device``: ``torch.autocast``
    to that dtype, or a no-op for ``none``."""
    dtype = amp_dtype(name)
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def to_memory_format(model: nn.Module, channels_last: bool) -> nn.Module:
    """``model`` with its 4-d parameters in channels-last layout when asked for (in place)."""
    return model.to(memory_format=torch.channels_last) if channels_last else model


def set_cudnn_benchmark(device: torch.device, enabled: bool) -> None:
    """Let cuDNN time and pick the fastest convolution algorithms on CUDA (a no-op elsewhere)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = enabled
