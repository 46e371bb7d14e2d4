"""The report's figures, each a pure function from numbers to PNG bytes (matplotlib, Agg)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from supernas.report.sbn import ShadowBNRow  # noqa: E402


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, laid out tightly."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def training_curves(records: Sequence[Mapping[str, float]]) -> bytes:
    """Loss, training accuracy and learning rate against the step, from ``log.jsonl`` records."""
    figure = Figure(figsize=(11, 3.4), dpi=100)
    steps = [r["step"] for r in records]
    panels = (("loss", "training loss"), ("train_acc", "training accuracy (%)"), ("lr", "learning rate"))
    for index, (key, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, 3, index)
        axes.plot(steps, [r.get(key, math.nan) for r in records], color="tab:blue", linewidth=1.2)
        axes.set_xlabel("step")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    return png_bytes(figure)


def truth_scatter(scores: Sequence[float], truths: Sequence[float], kendall_tau: float, spearman_rho: float,
                  column: str) -> bytes:
    """Supernet accuracy against ground truth, one dot per architecture, with Kendall τ and Spearman ρ."""
    figure = Figure(figsize=(5.6, 4.6), dpi=100)
    axes = figure.add_subplot()
    axes.scatter(truths, scores, s=14, color="tab:blue", alpha=0.8)
    axes.set_xlabel(f"ground truth: {column}")
    axes.set_ylabel("supernet accuracy (%)")
    axes.set_title(f"{len(scores)} architectures: Kendall τ = {kendall_tau:.3f}, Spearman ρ = {spearman_rho:.3f}")
    axes.grid(alpha=0.3)
    return png_bytes(figure)


def calr_curves(curves: Mapping[float, tuple[Sequence[int], Sequence[float]]],
                logged: Sequence[tuple[int, float, float]]) -> bytes:
    """CaLR's learning rate against the step for several subnet complexities (lines, one per
    complexity, from ``curves``: complexity -> (steps, LRs)), and the logged steps'
    ``(step, lr, complexity)`` as dots coloured by log complexity on the same scale."""
    figure = Figure(figsize=(6.8, 4.4), dpi=100)
    axes = figure.add_subplot()
    low, high = min(curves), max(curves)
    colormap = matplotlib.colormaps["viridis"]

    def colour(complexity: float) -> tuple:
        span = math.log(high) - math.log(low)
        return colormap((math.log(complexity) - math.log(low)) / span if span > 0 else 0.5)

    for complexity, (steps, lrs) in sorted(curves.items()):
        axes.plot(steps, lrs, color=colour(complexity), linewidth=1.5, label=f"{complexity:,.0f}")
    if logged:
        axes.scatter([s for s, _, _ in logged], [lr for _, lr, _ in logged], s=12, zorder=3, edgecolors="black",
                     linewidths=0.3, c=[colour(min(max(c, low), high)) for _, _, c in logged], label="logged steps")
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate")
    axes.set_title("CaLR: learning rate per subnet complexity")
    axes.grid(alpha=0.3)
    axes.legend(title="complexity", fontsize=8)
    return png_bytes(figure)


def sbn_statistics(rows: Sequence[ShadowBNRow]) -> bytes:
    """Per Shadow BN layer and number of paths k ≥ 2: μ_k/μ_1 and σ²_k/σ²_1 as bars, with the
    expected k and k² as dashed lines (the MixPath paper's figure)."""
    figure = Figure(figsize=(11, 3.8), dpi=100)
    layers = list(dict.fromkeys(r.layer for r in rows))
    counts = sorted({r.paths for r in rows})
    width = 0.8 / len(counts)
    for index, (key, label, expected) in enumerate((("mean_ratio", "μ_k / μ_1", lambda k: k),
                                                     ("var_ratio", "σ²_k / σ²_1", lambda k: k * k)), start=1):
        axes = figure.add_subplot(1, 2, index)
        for offset, count in enumerate(counts):
            by_layer = {r.layer: getattr(r, key) for r in rows if r.paths == count}
            positions = [i + (offset - (len(counts) - 1) / 2) * width for i in range(len(layers))]
            axes.bar(positions, [by_layer.get(layer, math.nan) for layer in layers], width, label=f"k = {count}")
            axes.axhline(expected(count), linestyle="--", linewidth=1, color="0.3")
        axes.set_xticks(range(len(layers)), [str(i) for i in range(len(layers))])
        axes.set_xlabel("Shadow BN layer")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3, axis="y")
        axes.legend(fontsize=8)
    return png_bytes(figure)


def accuracy_by_paths(groups: Mapping[int, Sequence[float]]) -> bytes:
    """Distribution of sampled subnets' supernet accuracy per number of active paths (box plot
    with every subnet as a dot)."""
    figure = Figure(figsize=(5.6, 4.4), dpi=100)
    axes = figure.add_subplot()
    paths = sorted(groups)
    axes.boxplot([list(groups[p]) for p in paths], positions=paths, widths=0.5, showfliers=False)
    for p in paths:
        values = list(groups[p])
        spread = [p + 0.12 * ((i % 7) - 3) / 3 for i in range(len(values))]
        axes.scatter(spread, values, s=10, alpha=0.6, color="tab:blue")
    axes.set_xticks(paths, [str(p) for p in paths])
    axes.set_xlabel("active paths per layer")
    axes.set_ylabel("supernet accuracy (%)")
    axes.set_title(f"{sum(len(v) for v in groups.values())} sampled subnets")
    axes.grid(alpha=0.3, axis="y")
    return png_bytes(figure)


def study_summary(table: Sequence[Mapping[str, object]], runs: Sequence[Mapping[str, object]],
                  baseline_taus: Sequence[float | None]) -> bytes:
    """A ranking study: Kendall τ per (variant, score), mean with the seeds' standard deviation
    as error bars and each seed as a dot, beside the parameter count's τ on the cells that row
    was ranked on (``baseline_taus``, one per row of ``table``, None where unknown: a red tick);
    and every run's τ against its training CPU time."""
    figure = Figure(figsize=(11, 0.9 + 0.38 * max(len(table), 4)), dpi=100)
    bars, costs = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    labels = [f"{entry['variant']} / {entry['score']}" for entry in table]
    positions = range(len(table))
    means = [entry["kendall_tau_mean"] for entry in table]
    spreads = [0.0 if math.isnan(entry["kendall_tau_std"]) else entry["kendall_tau_std"] for entry in table]
    bars.barh(list(positions), means, xerr=spreads, color="tab:blue", alpha=0.6, capsize=3)
    for position, entry in zip(positions, table):
        taus = [run["kendall_tau"] for run in runs if run["variant"] == entry["variant"] and run["score"] == entry["score"]]
        bars.scatter(taus, [position] * len(taus), s=12, color="black", zorder=3)
    known = [(tau, position) for position, tau in zip(positions, baseline_taus) if tau is not None]
    if known:
        bars.scatter([tau for tau, _ in known], [position for _, position in known], marker="|", s=400,
                     color="tab:red", zorder=4, label="parameter count on the row's cells")
        bars.legend(loc="lower left", fontsize=8, markerscale=0.4)
    bars.set_yticks(list(positions), labels, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("Kendall τ-b against ground truth (mean ± std over seeds)")
    bars.grid(alpha=0.3, axis="x")
    for score in dict.fromkeys(run["score"] for run in runs):
        chosen = [run for run in runs if run["score"] == score]
        costs.scatter([run["train_cpu_seconds"] / 60 for run in chosen], [run["kendall_tau"] for run in chosen],
                      s=16, label=str(score))
    costs.set_xlabel("training CPU time per run (min)")
    costs.set_ylabel("Kendall τ-b")
    costs.legend(fontsize=8)
    costs.grid(alpha=0.3)
    return png_bytes(figure)
