"""Zero-cost predictors: scores of a standalone subnet at initialisation, from a few batches.

Each predictor maps an untrained network and one or a few batches of training images to a
number that is higher for architectures expected to train to higher accuracy. They are
computed together so that passes are shared: one forward pass of the first batch records
the ReLU codes (NASWOT), one backward pass of ``sum(logits)`` to the input gives the Jacobian
(jacov), one backward pass of the cross-entropy gives the weight gradients (snip, grad_norm,
and ZiCo's first batch); every further batch adds one forward/backward pass for ZiCo; synflow
runs once more on a copy of the network with one all-ones image. The network's weights are
drawn from ``seed`` (PyTorch's default initialisation), so a score is a pure function of
(architecture, images, seed).

"Weight layers" are the ``nn.Conv2d`` and ``nn.Linear`` modules; BN layers run with batch
statistics (train mode) except in synflow, which removes them. A network whose output does
not depend on its input (NAS-Bench-201 cells cut off by ``none`` edges) has degenerate
Jacobian and kernel matrices; its non-finite scores become :data:`DEGENERATE`, below every
real score.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from supernas.data import DeviceLoader, ImageDataset, take_subset
from supernas.errors import SupernasError
from supernas.evaluate.cache import CachedMeasure, ScoreCache, shared_measures
from supernas.spaces.base import Architecture, Space

COMPLEXITY_SCORES = ("params", "flops")
"""Analytic counts of the space (weights, multiply-adds): larger networks rank higher."""
PROXY_SCORES = ("synflow", "snip", "grad_norm", "jacov", "naswot", "zico")
"""Predictors that run the untrained network."""
ZERO_COST_SCORES = COMPLEXITY_SCORES + PROXY_SCORES

DEGENERATE = -1e300
"""The score of a network whose predictor is not a finite number (e.g. log det of a singular kernel)."""
_JACOV_EPSILON = 1e-5
_ACTIVATIONS = (nn.ReLU, nn.ReLU6)


def finite_or_degenerate(value: float) -> float:
    """``value``, or :data:`DEGENERATE` when it is NaN or infinite."""
    return float(value) if math.isfinite(value) else DEGENERATE


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The convolution and linear layers of ``model``, in registration order."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow_score(model: nn.Module, input_shape: Sequence[int]) -> float:
    """SynFlow (Tanaka et al., NeurIPS 2020, "Pruning neural networks without any data by
    iteratively conserving synaptic flow"; as a NAS proxy: Abdelfattah et al., ICLR 2021).

    With every weight replaced by its absolute value and BN layers removed, one all-ones image
    is passed in float64 and R = sum of the logits is back-propagated; the score is
    sum over weight layers of sum(|w * dR/dw|), the total "synaptic flow" through the network.
    ``model`` is modified (take a copy).
    """
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, child_name, nn.Identity())
    model.double().train()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.abs_()
    model.zero_grad(set_to_none=True)
    device = next(model.parameters()).device
    model(torch.ones(1, *input_shape, dtype=torch.float64, device=device)).sum().backward()
    total = sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in weight_layers(model) if m.weight.grad is not None)
    return finite_or_degenerate(total)


def naswot_kernel(codes: torch.Tensor) -> torch.Tensor:
    """The NASWOT kernel of binary activation codes ``codes`` (N images x D units, 0/1):
    ``K[i, j]`` = number of units on which images i and j agree = D - Hamming(c_i, c_j),
    i.e. ``c c^T + (1 - c)(1 - c)^T``, computed as ``(s s^T + D) / 2`` with ``s = 2c - 1``."""
    signs = codes.to(torch.float64) * 2 - 1
    return (signs @ signs.T + codes.shape[1]) / 2


def naswot_score(kernel: torch.Tensor) -> float:
    """NASWOT (Mellor et al., ICML 2021, "Neural architecture search without training"):
    log |det K| of the summed kernel of every ReLU's binary code (see :func:`naswot_kernel`);
    networks that give different images more distinct activation patterns score higher."""
    return finite_or_degenerate(float(torch.linalg.slogdet(kernel)[1]))


def jacov_score(jacobian: torch.Tensor) -> float:
    """Jacobian covariance (Mellor et al., arXiv 2020 v1 of "Neural architecture search without
    training"; the form of Abdelfattah et al., ICLR 2021). ``jacobian`` holds, per image, the
    gradient of the sum of its logits with respect to its pixels (N x D). With the eigenvalues
    v of the N x N correlation matrix of those rows and k = 1e-5, the score is
    -sum(log(v + k) + 1 / (v + k)): highest when the images' Jacobians are uncorrelated."""
    rows = jacobian.reshape(len(jacobian), -1).to(torch.float64)
    rows = rows - rows.mean(dim=1, keepdim=True)
    norms = rows.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        return DEGENERATE
    unit = rows / norms
    values = torch.linalg.eigvalsh(unit @ unit.T)
    return finite_or_degenerate(float(-(torch.log(values + _JACOV_EPSILON) + 1 / (values + _JACOV_EPSILON)).sum()))


def snip_score(weights: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor]) -> float:
    """SNIP (Lee et al., ICLR 2019, "SNIP: single-shot network pruning based on connection
    sensitivity"; as a NAS proxy: Abdelfattah et al., ICLR 2021): the saliency
    sum over weight layers of sum(|w * dL/dw|), L the cross-entropy of one batch."""
    return finite_or_degenerate(sum(float((w * g).abs().sum()) for w, g in zip(weights, gradients)))


def grad_norm_score(gradients: Sequence[torch.Tensor]) -> float:
    """Gradient norm (Abdelfattah et al., ICLR 2021, "Zero-cost proxies for lightweight NAS"):
    sum over weight layers of the Euclidean norm of dL/dw, L the cross-entropy of one batch."""
    return finite_or_degenerate(sum(float(g.norm()) for g in gradients))


def zico_score(gradients_per_batch: Sequence[Sequence[torch.Tensor]]) -> float:
    """ZiCo (Li et al., ICLR 2023, "ZiCo: zero-shot NAS via inverse coefficient of variation on
    gradients"). For each weight layer, with g the cross-entropy gradient of each weight over
    the batches (at least two): log(sum over weights with std(g) > 0 of mean(|g|) / std(g))
    (population std across batches); the score sums this over layers, skipping layers whose
    sum is zero. High when gradients are large and consistent from batch to batch."""
    if len(gradients_per_batch) < 2:
        raise SupernasError("zico needs at least two batches (rank.proxy_batches >= 2)")
    total = 0.0
    for layer in zip(*gradients_per_batch):
        stacked = torch.stack([g.reshape(-1).to(torch.float64) for g in layer])
        std = stacked.std(dim=0, unbiased=False)
        varying = std > 0
        ratio = float((stacked.abs().mean(dim=0)[varying] / std[varying]).sum())
        if ratio > 0:
            total += math.log(ratio)
    return finite_or_degenerate(total)


@dataclass
class GradientPass:
    """What one forward pass of a batch (and its backward passes) yields."""

    gradients: list[torch.Tensor]
    kernel: torch.Tensor | None = None
    jacobian: torch.Tensor | None = None


def gradient_pass(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, kernel: bool = False,
                  jacobian: bool = False) -> GradientPass:
    """Run ``images`` through ``model`` (train mode) once: optionally summing the NASWOT kernel
    of every ReLU's input codes, optionally taking d sum(logits) / d images, then the
    cross-entropy gradients of the weight layers (zeros for a layer the batch does not reach)."""
    model.train()
    model.zero_grad(set_to_none=True)
    hooks, summed = [], []
    if kernel:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            codes = (inputs[0].detach().reshape(len(inputs[0]), -1) > 0)
            part = naswot_kernel(codes)
            summed.append(part if not summed else summed.pop() + part)

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    images = images.detach().clone().requires_grad_(jacobian)
    try:
        logits = model(images)
    finally:
        for hook in hooks:
            hook.remove()
    input_gradient = None
    if jacobian:
        input_gradient = torch.autograd.grad(logits.sum(), images, retain_graph=True, allow_unused=True)[0]
        input_gradient = torch.zeros_like(images) if input_gradient is None else input_gradient.detach()
    nn.functional.cross_entropy(logits, labels).backward()
    layers = weight_layers(model)
    gradients = [m.weight.grad.detach().clone() if m.weight.grad is not None else torch.zeros_like(m.weight)
                 for m in layers]
    model.zero_grad(set_to_none=True)
    if kernel and not summed:
        raise SupernasError("naswot needs a network with ReLU or ReLU6 modules")
    return GradientPass(gradients, summed[0] if kernel else None, input_gradient)


def proxy_scores(build: Callable[[], nn.Module], batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                 names: Sequence[str], seed: int) -> dict[str, float]:
    """The predictors ``names`` (of :data:`PROXY_SCORES`) of the network ``build()`` makes with
    weights drawn from ``seed``, on ``batches`` of (images, labels): snip, grad_norm, jacov and
    NASWOT on the first batch, ZiCo on all of them (at least two), synflow on one all-ones
    image of the same shape. Passes are shared (see the module docstring)."""
    unknown = [name for name in names if name not in PROXY_SCORES]
    if unknown:
        raise SupernasError(f"unknown zero-cost predictor {unknown[0]!r}; known: {', '.join(PROXY_SCORES)}")
    if not batches:
        raise SupernasError("zero-cost predictors need at least one batch of images")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build().to(batches[0][0].device)
    scores: dict[str, float] = {}
    if "synflow" in names:
        scores["synflow"] = synflow_score(copy.deepcopy(model), batches[0][0].shape[1:])
    gradient_names = {"snip", "grad_norm", "jacov", "naswot", "zico"} & set(names)
    if not gradient_names:
        return scores
    first = gradient_pass(model, *batches[0], kernel="naswot" in names, jacobian="jacov" in names)
    weights = [m.weight.detach() for m in weight_layers(model)]
    if "snip" in names:
        scores["snip"] = snip_score(weights, first.gradients)
    if "grad_norm" in names:
        scores["grad_norm"] = grad_norm_score(first.gradients)
    if "jacov" in names:
        scores["jacov"] = jacov_score(first.jacobian)
    if "naswot" in names:
        scores["naswot"] = naswot_score(first.kernel)
    if "zico" in names:
        rest = [gradient_pass(model, images, labels).gradients for images, labels in batches[1:]]
        scores["zico"] = zico_score([first.gradients, *rest])
    return scores



def proxy_batches(train: ImageDataset, batch_size: int, batches: int, seed: int,
                  device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` normalised batches of ``batch_size`` labelled training images: a stratified,
    shuffled subset drawn with ``seed`` (the same seed gives the same images)."""
    if batch_size < 2 or batches < 1:
        raise SupernasError("zero-cost predictors need rank.proxy_batch_size >= 2 and rank.proxy_batches >= 1")
    subset = take_subset(train, batch_size * batches, seed=seed)
    found = list(DeviceLoader(subset, batch_size, device=device).batches_in_order(batch_size))
    if len(found) < batches or len(found[-1][1]) < batch_size:
        raise SupernasError(f"the training split has {len(train)} images, fewer than the {batch_size * batches} "
                            "the zero-cost predictors ask for (rank.proxy_batch_size x rank.proxy_batches)")
    return found


@dataclass(frozen=True)
class ProxySettings:
    """What a zero-cost score depends on besides the architecture: the images (``batches`` of
    ``batch_size`` training images drawn with ``seed``, from the split ``split`` describes) and
    the seed of the initial weights (the same ``seed``)."""

    batch_size: int
    batches: int
    seed: int
    split: dict


def zero_cost_context(space: Space, name: str, settings: ProxySettings | None) -> dict:
    """The score cache's key of zero-cost score ``name``: the space, and for the predictors that
    run the network, the batch settings, seed and data split."""
    if name in COMPLEXITY_SCORES:
        return {"measure": "complexity", "score": name, "space": space.describe()}
    return {"measure": "zero_cost", "score": name, "space": space.describe(), "weights": "init",
            "batch_size": settings.batch_size, "batches": settings.batches, "seed": settings.seed,
            "split": settings.split}


def zero_cost_measures(space: Space, names: Sequence[str], train: ImageDataset, settings: ProxySettings,
                       device: torch.device, cache: ScoreCache) -> dict[str, CachedMeasure]:
    """A cached measure per zero-cost score of ``names``: complexity counts from the space,
    predictors from :func:`proxy_scores` on the untrained standalone subnet, all predictors of
    an architecture computed together."""
    proxies = [name for name in names if name in PROXY_SCORES]
    measures = {name: CachedMeasure(functools.partial(space.complexity, measure=name),
                                    zero_cost_context(space, name, settings), cache)
                for name in names if name in COMPLEXITY_SCORES}
    if proxies:
        batches = proxy_batches(train, settings.batch_size, settings.batches, settings.seed, device)
        contexts = {name: zero_cost_context(space, name, settings) for name in proxies}
        measures.update(shared_measures(
            lambda arch: proxy_scores(functools.partial(space.build_subnet, arch), batches, proxies, settings.seed),
            contexts, cache))
    return {name: measures[name] for name in names}
