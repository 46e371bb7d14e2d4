"""Few-shot NAS (Zhao et al., ICML 2021): the supernet split into sub-supernets, one per group
of architectures, each architecture trained and scored only in its own.

Two ways to start the sub-supernets: fresh weights each (:class:`FewShotSupernet`, as DYNAS
trains them), or the published one, where one supernet is trained first and every
sub-supernet then continues from its weights (:class:`InheritingFewShotSupernet`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class FewShotSupernet(nn.Module):
    """Independent sub-supernets behind one ``forward(x, arch)``: ``partition(arch)`` picks the
    sub-supernet that runs ``arch``, so only that one's parameters get gradients."""

    def __init__(self, parts: Sequence[nn.Module], partition: Callable[[object], int]):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.partition = partition

    def part_of(self, arch) -> int:
        """Index of the sub-supernet that runs ``arch``."""
        return self.partition(arch)

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        return self.parts[self.part_of(arch)](x, arch)


class InheritingFewShotSupernet(FewShotSupernet):
    """Few-shot NAS with weight inheritance: until :meth:`split`, every architecture runs in the
    first part, which is then one ordinary supernet; :meth:`split` copies its weights and
    buffers into every other part, and from then on each architecture runs in its own. Whether
    the split has happened is part of the state dict, so a checkpoint restores it."""

    def __init__(self, parts: Sequence[nn.Module], partition: Callable[[object], int]):
        super().__init__(parts, partition)
        self.is_split = False

    def part_of(self, arch) -> int:
        return self.partition(arch) if self.is_split else 0

    @torch.no_grad()
    def split(self) -> list[tuple[nn.Parameter, nn.Parameter]]:
        """Give every part the first part's weights and buffers (exact copies); returns the
        (source, copy) parameter pairs, for the optimizer state to follow them."""
        source = self.parts[0]
        for part in self.parts[1:]:
            part.load_state_dict(source.state_dict())
        self.is_split = True
        return [(original, copy) for part in self.parts[1:]
                for original, copy in zip(source.parameters(), part.parameters(), strict=True)]

    def get_extra_state(self) -> dict:
        return {"split": self.is_split}

    def set_extra_state(self, state: dict) -> None:
        self.is_split = bool(state["split"])
