"""What a search optimises: accuracy (maximised) and a cost (minimised), under cost limits.

Accuracy comes from a cached measure (the trained supernet, or a ground-truth table as an
oracle); the cost is the space's analytic parameter count or multiply-adds, or the latency of
a standalone subnet measured on the current device. Every architecture a search scores is
recorded once, in order, in :attr:`Objectives.history`: the searches share this one path.
"""

from __future__ import annotations

import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from supernas.errors import SupernasError
from supernas.evaluate.cache import CachedMeasure, ScoreCache, file_sha256
from supernas.groundtruth.tables import GroundTruth
from supernas.spaces.base import Architecture, Space

COSTS = ("params", "flops", "latency")
LIMITED_MEASURES = ("params", "flops")


@dataclass(frozen=True)
class Candidate:
    """One scored architecture: accuracy (%), analytic costs, and latency when measured."""

    arch: str
    accuracy: float
    params: float
    flops: float
    latency_ms: float | None = None

    def cost(self, name: str) -> float:
        """The named cost (``params``, ``flops`` or ``latency``)."""
        return self.latency_ms if name == "latency" else getattr(self, name)

    def as_dict(self) -> dict:
        return asdict(self)


def ground_truth_accuracy(truth: GroundTruth, cache: ScoreCache) -> CachedMeasure:
    """An oracle accuracy: the table's value of each architecture (for testing searches)."""
    context = {"measure": "ground_truth", "table": file_sha256(truth.path), "column": truth.column}
    return CachedMeasure(lambda arch: truth[str(arch)], context, cache)


def device_name(device: torch.device) -> str:
    """A description of the device that latencies are measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


@torch.no_grad()
def median_latency_ms(model: torch.nn.Module, example: torch.Tensor, runs: int, warmup: int) -> float:
    """Median wall time (ms) of ``model(example)`` over ``runs`` timed runs after ``warmup`` untimed ones."""
    model.eval()
    synchronize = torch.cuda.synchronize if example.is_cuda else (lambda: None)
    for _ in range(warmup):
        model(example)
    times = []
    for _ in range(runs):
        synchronize()
        started = time.perf_counter()
        model(example)
        synchronize()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def subnet_latency(space: Space, input_shape: tuple[int, int, int], device: torch.device, batch_size: int, runs: int,
                   warmup: int, cache: ScoreCache) -> CachedMeasure:
    """Cached median latency (ms) of each architecture's standalone subnet on ``device``."""
    if runs < 1 or warmup < 0 or batch_size < 1:
        raise SupernasError("latency needs latency_runs >= 1, latency_warmup >= 0 and latency_batch_size >= 1")
    example = torch.zeros(batch_size, *input_shape, device=device)

    def measure(arch: Architecture) -> float:
        return median_latency_ms(space.build_subnet(arch).to(device), example, runs, warmup)

    context = {"measure": "latency_ms", "space": space.describe(), "device": device_name(device),
               "input": [batch_size, *input_shape], "runs": runs, "warmup": warmup, "torch": torch.__version__}
    return CachedMeasure(measure, context, cache)


class Objectives:
    """Scores architectures for a search and records each one once, in evaluation order.

    ``accuracy`` maps a list of architectures to accuracies (%); ``cost`` names the minimised
    objective; ``limits`` maps ``params``/``flops`` to the largest allowed value. Architectures
    over a limit are never scored (their cost is known analytically). ``on_scored(candidate)``
    is called for each newly scored architecture (progress).
    """

    def __init__(self, space: Space, accuracy: Callable[[Sequence[Architecture]], list[float]], cost: str = "params",
                 latency: Callable[[Sequence[Architecture]], list[float]] | None = None,
                 limits: dict[str, float] | None = None, on_scored: Callable[[Candidate], None] | None = None):
        if cost not in COSTS:
            raise SupernasError(f"unknown search cost {cost!r}; expected one of {', '.join(COSTS)}")
        if cost == "latency" and latency is None:
            raise SupernasError("the latency cost needs a latency measure")
        unknown = set(limits or {}) - set(LIMITED_MEASURES)
        if unknown:
            raise SupernasError(f"cannot limit {', '.join(sorted(unknown))}; "
                                f"limits apply to {', '.join(LIMITED_MEASURES)}")
        self.space, self.accuracy, self.cost, self.latency = space, accuracy, cost, latency
        self.limits = {name: float(value) for name, value in (limits or {}).items() if value and value > 0}
        self.on_scored = on_scored
        self.history: dict[str, Candidate] = {}

    def violations(self, arch: Architecture) -> list[float]:
        """Per limit, how far ``arch`` exceeds it relative to the limit (<= 0 when within it)."""
        return [self.space.complexity(arch, name) / limit - 1.0 for name, limit in self.limits.items()]

    def feasible(self, arch: Architecture) -> bool:
        """Whether ``arch`` is within every limit."""
        return all(v <= 0 for v in self.violations(arch))

    def is_new(self, arch: Architecture) -> bool:
        """Whether ``arch`` has not been scored in this search yet."""
        return str(arch) not in self.history

    def score(self, archs: Sequence[Architecture]) -> list[Candidate | None]:
        """The candidate of each architecture (``None`` for one over a limit), scoring new ones."""
        results: list[Candidate | None] = []
        for arch in archs:
            if not self.feasible(arch):
                results.append(None)
                continue
            name = str(arch)
            if name not in self.history:
                self.history[name] = self._candidate(arch)
                if self.on_scored is not None:
                    self.on_scored(self.history[name])
            results.append(self.history[name])
        return results

    def _candidate(self, arch: Architecture) -> Candidate:
        accuracy = self.accuracy([arch])[0]
        if not math.isfinite(accuracy):
            raise SupernasError(f"accuracy of {arch} is not a finite number")
        latency = self.latency([arch])[0] if self.cost == "latency" else None
        params, flops = self.space.complexity(arch, "params"), self.space.complexity(arch, "flops")
        return Candidate(str(arch), accuracy, params, flops, latency)
