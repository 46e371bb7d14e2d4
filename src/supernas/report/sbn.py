"""Shadow BN diagnostics: how BN_k (k active paths) compares with BN_1 in a trained supernet.

When the paths of a layer are similar, the sum of k of them has about k times the mean and k²
times the variance of one (MixPath, Lemma 3.1), while the learned affine parameters of the
BNs stay close. For every Shadow BN and every k ≥ 2 this reports:

- ``mean_ratio`` = mean_c |μ_k[c]| / mean_c |μ_1[c]|: the ratio of the channel-averaged absolute
  running means (a mean of per-channel ratios would be dominated by channels whose μ_1 is
  near zero); expected ≈ k.
- ``var_ratio`` = mean_c σ²_k[c] / mean_c σ²_1[c], the ratio of the channel-averaged running
  variances; expected ≈ k².
- ``gamma_distance`` = mean_c |γ_k[c] − γ_1[c]| and ``beta_distance`` likewise for β; expected small.

With an exponential Shadow BN, BN_k stands for the per-channel average of the BNs of all
k-path sets. BNs that never saw a batch are left out (a layer whose BN_1 or BN_k never ran has
no row); ``shared`` and ``scaling`` normalisations have one BN and no rows.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from supernas.config import Config, from_dict
from supernas.errors import SupernasError
from supernas.nn.shadow_bn import ShadowBatchNorm
from supernas.runs.checkpoint import load_checkpoint
from supernas.runs.experiment import build_supernet, checkpoint_path
from supernas.spaces import get_space


@dataclass(frozen=True)
class ShadowBNRow:
    """BN_k of one Shadow BN compared with its BN_1."""

    layer: str
    paths: int
    mean_ratio: float
    var_ratio: float
    gamma_distance: float
    beta_distance: float


def statistics_by_path_count(norm: ShadowBatchNorm) -> dict[int, dict[str, torch.Tensor]]:
    """Per number of active paths k: ``mean``, ``var``, ``gamma``, ``beta`` per channel,
    averaged over the BNs that serve k and saw at least one batch (one for a linear Shadow BN)."""
    groups: dict[int, list[nn.BatchNorm2d]] = {}
    for bn, count in zip(norm.norms, norm.norm_path_counts()):
        if count is not None and int(bn.num_batches_tracked) > 0:
            groups.setdefault(count, []).append(bn)
    fields = {"mean": "running_mean", "var": "running_var", "gamma": "weight", "beta": "bias"}
    return {count: {key: torch.stack([getattr(bn, attr).detach().float() for bn in bns]).mean(0)
                    for key, attr in fields.items()}
            for count, bns in groups.items()}


def shadow_bn_rows(model: nn.Module) -> list[ShadowBNRow]:
    """One row per Shadow BN of ``model`` (by module name) and number of paths k ≥ 2."""
    rows = []
    for name, module in model.named_modules():
        if not isinstance(module, ShadowBatchNorm) or not (module.norms[0].track_running_stats and module.norms[0].affine):
            continue
        stats = statistics_by_path_count(module)
        if 1 not in stats:
            continue
        one = stats[1]
        for count in sorted(stats)[1:]:
            k = stats[count]
            rows.append(ShadowBNRow(
                name, count,
                float(k["mean"].abs().mean() / one["mean"].abs().mean()),
                float(k["var"].mean() / one["var"].mean()),
                float((k["gamma"] - one["gamma"]).abs().mean()),
                float((k["beta"] - one["beta"]).abs().mean())))
    return rows


def diagnose_run(run_dir: str | Path) -> list[ShadowBNRow]:
    """:func:`shadow_bn_rows` of the supernet in a run directory's last checkpoint."""
    path = checkpoint_path(Config(run_dir=str(run_dir)))
    state = load_checkpoint(path)
    space = get_space(**state["space"])
    model = build_supernet(from_dict(state["config"]), space)
    model.load_state_dict(state["model"])
    rows = shadow_bn_rows(model)
    if not rows:
        raise SupernasError(f"the supernet in {path} has no linear or exponential Shadow BN with affine parameters "
                            f"and running statistics")
    return rows


def format_rows(rows: list[ShadowBNRow]) -> str:
    """The rows as a table, then per k the mean over layers (expected ≈ k and ≈ k²)."""
    lines = [f"{'layer':<40}{'k':>3}{'mu_k/mu_1':>11}{'var_k/var_1':>13}{'|dgamma|':>10}{'|dbeta|':>10}"]
    lines += [f"{r.layer:<40}{r.paths:>3}{r.mean_ratio:>11.3f}{r.var_ratio:>13.3f}{r.gamma_distance:>10.4f}"
              f"{r.beta_distance:>10.4f}" for r in rows]
    for count in sorted({r.paths for r in rows}):
        of_k = [r for r in rows if r.paths == count]
        lines.append(f"{'mean over ' + str(len(of_k)) + ' layers':<40}{count:>3}"
                     f"{statistics.fmean(r.mean_ratio for r in of_k):>11.3f}"
                     f"{statistics.fmean(r.var_ratio for r in of_k):>13.3f}"
                     f"{statistics.fmean(r.gamma_distance for r in of_k):>10.4f}"
                     f"{statistics.fmean(r.beta_distance for r in of_k):>10.4f}"
                     f"   (expected about {count} and {count * count})")
    return "\n".join(lines)
