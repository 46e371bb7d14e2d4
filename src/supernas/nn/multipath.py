"""Multi-path layers: 1..m of n candidate paths active per step, outputs summed, then Shadow BN.

:class:`MultiPath` works with any paths (modules mapping a tensor to tensors of one shape);
:class:`FusedDepthwisePaths` is the MixPath case of depthwise convolutions of several kernel
sizes, whose sum it computes as one convolution. Paths that are not active never run, so their
parameters get no gradient (``None``, not zero) and an optimizer leaves them untouched.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from supernas.errors import SupernasError
from supernas.nn.shadow_bn import ShadowBatchNorm


class MultiPath(nn.Module):
    """Sum of the active candidate paths, optionally transformed, then a Shadow BN.

    ``paths`` maps names to modules. ``channels`` is the channel count the normalisation sees
    (the paths' output, or ``transform``'s when given, e.g. the 1x1 projection of MixPath's
    reference block). ``max_active`` bounds the number of active paths (default: all) and
    ``norm`` picks the normalisation (:data:`~supernas.nn.shadow_bn.SBN_MODES`): ``linear``,
    ``exponential``, ``shared`` or ``scaling``. ``candidates`` lists the names of every candidate
    path in a fixed order (default: the keys of ``paths``); a standalone subnet passes the full
    list with only its own paths, so that it picks the same BN as the supernet. ``bn_options``
    go to the BNs (e.g. ``affine=False``).

    ``forward(x, active)`` runs the paths named in ``active`` (1..``max_active`` distinct names):

    >>> import torch
    >>> from torch import nn
    >>> layer = MultiPath({"conv": nn.Conv2d(8, 8, 3, padding=1), "pool": nn.AvgPool2d(3, 1, 1),
    ...                    "skip": nn.Identity()}, channels=8, max_active=2, norm="linear")
    >>> layer(torch.randn(2, 8, 16, 16), ["conv", "skip"]).shape
    torch.Size([2, 8, 16, 16])
    >>> layer.paths["pool"].training, len(layer.norm.norms)
    (True, 2)
    """

    def __init__(self, paths: Mapping[str, nn.Module], channels: int, max_active: int | None = None,
                 norm: str = "linear", transform: nn.Module | None = None, candidates: Sequence[str] | None = None,
                 **bn_options):
        super().__init__()
        self.candidates = tuple(paths if candidates is None else candidates)
        unknown = sorted(set(paths) - set(self.candidates))
        if unknown:
            raise SupernasError(f"paths {unknown} are not among the candidates {list(self.candidates)}")
        self.paths = nn.ModuleDict(paths)
        self.transform = nn.Identity() if transform is None else transform
        self.norm = ShadowBatchNorm(channels, len(self.candidates), max_active, norm, **bn_options)

    def path_indices(self, active: Sequence[str]) -> list[int]:
        """Candidate indices of the path names ``active``; each must be a path this layer holds."""
        missing = [name for name in active if name not in self.paths]
        if missing:
            raise SupernasError(f"paths {missing} are not held by this layer (it holds {list(self.paths)})")
        return [self.candidates.index(name) for name in active]

    def path_sum(self, x: torch.Tensor, active: Sequence[str]) -> torch.Tensor:
        """The sum of the active paths' outputs, computed path by path."""
        return functools.reduce(operator.add, (self.paths[name](x) for name in active))

    def forward(self, x: torch.Tensor, active: Sequence[str]) -> torch.Tensor:
        indices = self.path_indices(active)
        return self.norm(self.transform(self.path_sum(x, active)), indices)


def kernel_name(kernel: int) -> str:
    """Name of the depthwise path of a kernel size (``3`` -> ``"k3"``)."""
    return f"k{kernel}"


def composite_depthwise_kernel(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The sum of depthwise kernels of odd sizes, each zero-padded to the largest and centred.

    Convolution is linear, so one convolution with this kernel (padding ``size // 2``) equals
    the sum of the convolutions with each kernel (padding ``k // 2``), at the cost of one.
    """
    size = max(weight.shape[-1] for weight in weights)
    return functools.reduce(operator.add, (F.pad(w, [(size - w.shape[-1]) // 2] * 4) for w in weights))


class FusedDepthwisePaths(MultiPath):
    """Depthwise k x k convolutions (conv only, no bias) as paths, summed, then a Shadow BN.

    ``kernels`` are the odd kernel sizes this layer holds (paths named ``k3``, ``k5``, ...),
    ``candidate_kernels`` every kernel size of the space (default: ``kernels``). With
    ``fuse=True`` the sum of the active paths is one depthwise convolution with
    :func:`composite_depthwise_kernel` of the active kernels only (so inactive kernels still get
    no gradient); ``fuse=False`` runs the paths one by one (the same function, for checking and
    benchmarking).

    >>> import torch
    >>> layer = FusedDepthwisePaths(16, kernels=(3, 5, 7, 9), stride=2, max_active=4, norm="linear")
    >>> layer(torch.randn(2, 16, 32, 32), ["k3", "k9"]).shape
    torch.Size([2, 16, 16, 16])
    """

    def __init__(self, channels: int, kernels: Sequence[int], stride: int = 1, max_active: int | None = None,
                 norm: str = "linear", fuse: bool = True, candidate_kernels: Sequence[int] | None = None,
                 **bn_options):
        if any(kernel % 2 == 0 for kernel in kernels):
            raise SupernasError(f"depthwise path kernels must be odd, got {list(kernels)}")
        paths = {kernel_name(k): nn.Conv2d(channels, channels, k, stride, k // 2, groups=channels, bias=False)
                 for k in kernels}
        candidates = [kernel_name(k) for k in (kernels if candidate_kernels is None else candidate_kernels)]
        super().__init__(paths, channels, max_active, norm, candidates=candidates, **bn_options)
        self.channels, self.stride, self.fuse = channels, stride, fuse

    def path_sum(self, x: torch.Tensor, active: Sequence[str]) -> torch.Tensor:
        if not self.fuse:
            return super().path_sum(x, active)
        kernel = composite_depthwise_kernel([self.paths[name].weight for name in active])
        return F.conv2d(x, kernel, stride=self.stride, padding=kernel.shape[-1] // 2, groups=self.channels)
