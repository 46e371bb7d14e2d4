"""Shadow Batch Normalization (MixPath): a BatchNorm that follows the set of active paths.

Summing ``k`` similar paths scales the mean of a feature by about ``k`` and its variance by
about ``k²``, so one BN shared by every number of paths sees shifting statistics. A Shadow BN
keeps several BNs and runs the one that matches the active paths: only that BN sees data and
receives gradients.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from supernas.errors import SupernasError

SBN_MODES = ("linear", "exponential", "shared", "scaling")
"""``linear``: one BN per number of active paths (MixPath's SBN, ``m`` BNs). ``exponential``:
one BN per allowed set of active paths (``2^m - 1`` for ``n = m``). ``shared``: one BN for
everything (the "no SBN" baseline). ``scaling``: the sum divided by the number of active
paths, then one shared BN."""


def allowed_subsets(num_paths: int, max_active: int) -> tuple[tuple[int, ...], ...]:
    """Every set of 1..``max_active`` distinct path indices out of ``num_paths``, as sorted
    tuples ordered by size, then lexicographically: ``(0,), (1,), ..., (0, 1), (0, 2), ...``."""
    return tuple(subset for size in range(1, max_active + 1) for subset in itertools.combinations(range(num_paths), size))


class ShadowBatchNorm(nn.Module):
    """BatchNorm2d chosen by the active paths of a multi-path layer (see :data:`SBN_MODES`).

    ``num_paths`` candidate paths, of which 1..``max_active`` (default: all) are active at a
    time; ``forward(x, active)`` normalises ``x`` (the paths' sum, possibly transformed) with the
    BN of the active path indices ``active``. ``bn_options`` go to every ``nn.BatchNorm2d``.

    >>> norm = ShadowBatchNorm(8, num_paths=4, max_active=2, mode="linear")
    >>> len(norm.norms), norm.index([3]), norm.index([0, 2])
    (2, 0, 1)
    >>> norm(torch.randn(4, 8, 5, 5), [0, 2]).shape
    torch.Size([4, 8, 5, 5])
    """

    def __init__(self, channels: int, num_paths: int, max_active: int | None = None, mode: str = "linear",
                 **bn_options):
        super().__init__()
        max_active = num_paths if max_active is None else max_active
        if mode not in SBN_MODES:
            raise SupernasError(f"unknown Shadow BN mode {mode!r}; expected one of {', '.join(SBN_MODES)}")
        if not 1 <= max_active <= num_paths:
            raise SupernasError(f"max_active must be in 1..{num_paths} (the number of paths), got {max_active}")
        self.mode, self.num_paths, self.max_active = mode, num_paths, max_active
        self.subsets = allowed_subsets(num_paths, max_active)
        self.subset_index = {subset: index for index, subset in enumerate(self.subsets)}
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels, **bn_options) for _ in self.norm_path_counts())

    def norm_path_counts(self) -> tuple[int | None, ...]:
        """For each BN, the number of active paths it serves (``None``: every number)."""
        if self.mode == "linear":
            return tuple(range(1, self.max_active + 1))
        if self.mode == "exponential":
            return tuple(len(subset) for subset in self.subsets)
        return (None,)

    def index(self, active: Sequence[int]) -> int:
        """Index in :attr:`norms` of the BN for the active path indices ``active``."""
        subset = tuple(sorted(active))
        if subset not in self.subset_index:
            raise SupernasError(f"active paths {list(active)} are not 1..{self.max_active} distinct indices "
                                f"in 0..{self.num_paths - 1}")
        if self.mode == "linear":
            return len(subset) - 1
        if self.mode == "exponential":
            return self.subset_index[subset]
        return 0

    def forward(self, x: torch.Tensor, active: Sequence[int]) -> torch.Tensor:
        norm = self.norms[self.index(active)]
        return norm(x / len(active) if self.mode == "scaling" else x)
