"""Zero-cost predictors, the supernet and fused rankings on NAS-Bench-201 / CIFAR-10.

Phases (each resumable; results under ``benchmarks/results/``):

    python benchmarks/predictors.py scores --tag full      # every proxy of 1,500 cells -> predictors_full.csv
    python benchmarks/predictors.py report                 # tables + plot -> BENCHMARKS.md

The cells are ``sample_architectures(space, 1500, seed=0)``: the first 1,000 are the reported
sample, the other 500 the disjoint tuning sample on which fusion weights are chosen.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch

from supernas.config import SearchConfig, load_config
from supernas.data import load_dataset, split_dataset
from supernas.evaluate.cache import ScoreCache
from supernas.evaluate.fusion import choose_weights, fuse, fused_label
from supernas.evaluate.scoring import (data_split_context, fused_measure, open_score_cache, sample_architectures,
                                       supernet_measures)
from supernas.evaluate.zero_cost import (COMPLEXITY_SCORES, PROXY_SCORES, ZERO_COST_SCORES, ProxySettings, proxy_batches,
                                         proxy_scores, zero_cost_context, zero_cost_measures)
from supernas.groundtruth.ranking import ranking_metrics
from supernas.groundtruth.tables import default_nasbench201_path, load_ground_truth
from supernas.runs.experiment import build_space, load_splits
from supernas.search.objectives import Objectives
from supernas.search.runner import search_space
from supernas.spaces import get_space
from supernas.train.budget import steps_for_budget
from supernas.train.trainer import train_supernet

RESULTS = Path(__file__).with_name("results")
RUNS = Path(__file__).parents[1] / "runs" / "predictors"
PRESET = "nb201-fast"
REPORTED, TUNING = 1000, 500
SAMPLE_SEED = 0


def cells(space) -> list:
    """The reported sample followed by the tuning sample (disjoint, same seeded draw)."""
    return sample_architectures(space, REPORTED + TUNING, SAMPLE_SEED)


def scores_path(tag: str) -> Path:
    return RESULTS / f"predictors_{tag}.csv"


def read_rows(path: Path) -> dict[str, dict]:
    """Rows of a scores CSV by architecture string (empty when the file does not exist)."""
    if not path.exists():
        return {}
    with open(path) as file:
        return {row["arch"]: row for row in csv.DictReader(file)}


def kaiming_fan_in(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with Kaiming-normal (fan-in, ReLU gain) convolution and linear weights, zero biases."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    return model


def noise_batches(batch_size: int, batches: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Standard-normal 32x32 images with uniformly random labels (the AZ-NAS evaluation's inputs)."""
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, 3, 32, 32, generator=generator), torch.randint(10, (batch_size,), generator=generator))
            for _ in range(batches)]


def run_scores(args) -> None:
    """Every proxy of every cell, appended to the tag's CSV one cell at a time (resumable);
    ``seconds`` is the process CPU time of all proxies of one cell computed together. With
    ``--azstyle`` the inputs are Gaussian noise with random labels and the weights Kaiming-normal,
    as in the code behind the published table (to explain where our values differ)."""
    torch.set_num_threads(args.threads)
    space = get_space("nasbench201", channels=args.channels, cells_per_stage=args.cells)
    if args.azstyle:
        batches = noise_batches(args.batch_size, args.batches, args.seed)
    else:
        train, _ = split_dataset(load_dataset("cifar10", None, train=True), 0.5, 0)
        batches = proxy_batches(train, args.batch_size, args.batches, args.seed, torch.device("cpu"))
    build = (lambda arch: kaiming_fan_in(space.build_subnet(arch))) if args.azstyle else space.build_subnet
    path = scores_path(args.tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_rows(path)
    columns = ["arch", *PROXY_SCORES, "seconds"]
    todo = [a for a in cells(space)[args.start:args.stop] if str(a) not in done]
    with open(path, "a", newline="") as file:
        writer = csv.DictWriter(file, columns)
        if not done:
            writer.writeheader()
        for index, arch in enumerate(todo):
            started = time.process_time()
            values = proxy_scores(lambda: build(arch), batches, PROXY_SCORES, args.seed)
            writer.writerow({"arch": str(arch), **values, "seconds": round(time.process_time() - started, 4)})
            file.flush()
            if index % 50 == 0:
                print(f"{args.tag}: {index + 1}/{len(todo)}", flush=True)


def run_timing(args) -> None:
    """CPU seconds per cell of each proxy computed alone, over the first ``--cells-timed``
    reported cells, into ``predictors_timing.json`` (tag -> score -> seconds)."""
    torch.set_num_threads(args.threads)
    path = RESULTS / "predictors_timing.json"
    timing = json.loads(path.read_text()) if path.exists() else {}
    space = get_space("nasbench201", channels=args.channels, cells_per_stage=args.cells)
    train, _ = split_dataset(load_dataset("cifar10", None, train=True), 0.5, 0)
    batches = proxy_batches(train, args.batch_size, args.batches, args.seed, torch.device("cpu"))
    archs = cells(space)[:args.cells_timed]
    seconds = {}
    for name in PROXY_SCORES:
        started = time.process_time()
        for arch in archs:
            proxy_scores(lambda: space.build_subnet(arch), batches, [name], args.seed)
        seconds[name] = round((time.process_time() - started) / len(archs), 4)
    timing[args.tag] = seconds
    path.write_text(json.dumps(timing, indent=1))
    print(args.tag, seconds)


def supernet_config(budget: float, steps: int = 0):
    """The preset's config for a supernet trained ``budget`` CPU-minutes (``steps`` steps)."""
    overrides = {"run_dir": str(RUNS / f"{PRESET}_{budget:g}min"), "train.progress": "false", "data.device": "cpu"}
    if steps:
        overrides["train.steps"] = str(steps)
    return load_config(PRESET, overrides)


def run_supernet(args) -> None:
    """Train the preset for each budget (CPU time of this process, sized once by a probe run
    and recorded, so a rerun resumes the same run) and score every sampled cell by held-out
    accuracy and loss; per budget ``predictors_supernet_<budget>min.json`` holds the steps,
    CPU seconds of training and of scoring one cell (over the cells this process scored; a
    rerun takes the others from the run's score cache), and the scores."""
    torch.set_num_threads(args.threads)
    for budget in (float(b) for b in args.budgets.split(",")):
        out = RESULTS / f"predictors_supernet_{budget:g}min.json"
        record = json.loads(out.read_text()) if out.exists() else {}
        if "scores" in record:
            continue
        if "steps" not in record:
            record = {"budget_min": budget, "steps": steps_for_budget(supernet_config(budget), budget * 60, "cpu")}
            out.write_text(json.dumps(record))
        config = supernet_config(budget, record["steps"])
        if "train_cpu_s" not in record:
            started = time.process_time()
            result = train_supernet(config)
            record.update(train_cpu_s=round(time.process_time() - started, 1), resumed_from=result.resumed_from)
            out.write_text(json.dumps(record))
        splits = load_splits(config)
        space = build_space(config, splits[0])
        archs = cells(space)
        started = time.process_time()
        measures = supernet_measures(config, space, splits, torch.device("cpu"), open_score_cache(config),
                                     scores=("supernet", "supernet_loss"))
        scores = {name: measure(archs) for name, measure in measures.items()}
        computed = measures["supernet"].computed
        seconds = time.process_time() - started
        record.update(score_cpu_s=round(seconds, 1), cells_scored_here=computed, archs=[str(a) for a in archs],
                      score_s_per_cell=round(seconds / max(computed, 1), 4), scores=scores)
        out.write_text(json.dumps(record))
        print(f"budget {budget:g} min: {record['steps']} steps, train {record['train_cpu_s']} CPU-s, "
              f"score {record['score_cpu_s']} CPU-s", flush=True)


TAGS = {"full": "C=16, N=5 (the NB201 network), 2 batches of 64 CIFAR-10 training images",
        "fast": "C=8, N=5, 2 batches of 32 CIFAR-10 training images",
        "azstyle": "C=16, N=5, 2 batches of 64 Gaussian-noise images with random labels, Kaiming-normal weights"}
"""Network and batch size of each cached proxy run (tag -> description)."""


def zero_cost_columns(tag: str, archs: list) -> tuple[dict[str, list[float]], list[float]]:
    """Every zero-cost score of ``archs`` from the tag's CSV (complexity from the space), and
    the CPU seconds per cell of the six proxies computed together."""
    rows = read_rows(scores_path(tag))
    missing = [str(a) for a in archs if str(a) not in rows]
    if missing:
        raise SystemExit(f"{scores_path(tag)} lacks {len(missing)} of the cells; run the scores phase first")
    space = get_space("nasbench201")
    columns = {name: [space.complexity(a, name) for a in archs] for name in COMPLEXITY_SCORES}
    columns.update({name: [float(rows[str(a)][name]) for a in archs] for name in PROXY_SCORES})
    return columns, [float(rows[str(a)]["seconds"]) for a in archs]


def cached_supernet_scores(budget: float) -> dict[str, dict[str, float]]:
    """The supernet scores a budget's run has committed to its score cache so far (a scoring
    still under way), by score and architecture."""
    path = RUNS / f"{PRESET}_{budget:g}min" / "scores.sqlite"
    if not path.exists():
        return {}
    found: dict[str, dict[str, float]] = {"supernet": {}, "supernet_loss": {}}
    for context, arch, value in ScoreCache(path).connection.execute("SELECT context, arch, value FROM scores"):
        measure = json.loads(context)["measure"]
        found["supernet" if measure == "supernet_accuracy" else measure][arch] = value
    return found


def supernet_columns(budget: float, archs: list) -> dict | None:
    """The supernet scores of those of ``archs`` that have them at ``budget`` CPU-minutes
    (``archs``: which ones, in order), with the CPU seconds of training and of scoring a cell;
    None when the budget's training has not finished."""
    path = RESULTS / f"predictors_supernet_{budget:g}min.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    if "train_cpu_s" not in record:
        return None
    if "scores" in record:
        scores = {name: dict(zip(record["archs"], values)) for name, values in record["scores"].items()}
        per_cell = record["score_s_per_cell"]
    else:
        scores = cached_supernet_scores(budget)
        per_cell = json.loads((RESULTS / "predictors_supernet_3min.json").read_text())["score_s_per_cell"]
    present = [a for a in archs if all(str(a) in column for column in scores.values())]
    columns = {name: [column[str(a)] for a in present] for name, column in scores.items()}
    return {"columns": columns, "archs": present, "train_s": record["train_cpu_s"], "steps": record["steps"],
            "score_s_per_cell": per_cell}


def table_row(label: str, values: list[float], truth: list[float], seconds_per_cell: float, total_min: float) -> dict:
    """One row: ranking metrics of ``values`` on the reported cells, and its costs."""
    m = ranking_metrics(values, truth, 0.1)
    return {"score": label, "tau": round(m.kendall_tau, 3), "rho": round(m.spearman_rho, 3),
            "prec@10%": round(m.precision_at_top, 3), "top1_true": round(m.top1_true, 2),
            "s/cell": round(seconds_per_cell, 3), "total_cpu_min": round(total_min, 2)}


def fused_rows(label: str, columns: dict, tuning: dict | None, truth: list[float], tuning_truth: list[float],
               seconds_per_cell: float, fixed_min: float, given: dict | None = None) -> list[dict]:
    """The equal-weight fusion of ``columns`` and the fusion with weights chosen on the tuning
    cells (:func:`choose_weights`; ``given`` weights instead when there are no tuning scores)."""
    equal = {name: 1.0 for name in columns}
    total = fixed_min + seconds_per_cell * len(truth) / 60
    rows = [table_row(f"{label}, equal: {fused_label(equal)}", fuse(columns, equal).tolist(), truth, seconds_per_cell, total)]
    chosen = given
    if tuning is not None:
        chosen = {name: weight for name, weight in choose_weights(tuning, tuning_truth).items() if weight > 0}
    if chosen is not None:
        kind = "tuned" if tuning is not None else "weights of the previous row"
        rows.append(table_row(f"{label}, {kind}: {fused_label(chosen)}", fuse(columns, chosen).tolist(), truth,
                              seconds_per_cell, total))
        rows[-1]["weights"] = chosen
    return rows


def run_report(args) -> None:
    """Tables (JSON + markdown) and the plot from the cached scores."""
    space = get_space("nasbench201")
    archs = cells(space)
    reported, tuning = archs[:REPORTED], archs[REPORTED:]
    truth_table = load_ground_truth(default_nasbench201_path(), "cifar10_test_acc")
    truth = [truth_table[str(a)] for a in reported]
    tuning_truth = [truth_table[str(a)] for a in tuning]
    timing = json.loads((RESULTS / "predictors_timing.json").read_text()) if (RESULTS / "predictors_timing.json").exists() else {}
    rows, points, curves = [], [], {"supernet": [], "fused": []}
    ensembles = {}
    for name in COMPLEXITY_SCORES:
        rows.append(table_row(name, [space.complexity(a, name) for a in reported], truth, 0.0, 0.0))
    for tag in TAGS:
        if not scores_path(tag).exists():
            continue
        present = read_rows(scores_path(tag))
        if tag == "azstyle" or not all(str(a) in present for a in reported):
            subset = [a for a in reported if str(a) in present]
            columns, _ = zero_cost_columns(tag, subset)
            subset_truth = [truth_table[str(a)] for a in subset]
            for name in PROXY_SCORES:
                rows.append(table_row(f"{name} ({tag}, first {len(subset)} cells)", columns[name], subset_truth, 0.0, 0.0))
            rows.append(table_row(f"params (same {len(subset)} cells)", [space.complexity(a) for a in subset],
                                  subset_truth, 0.0, 0.0))
            continue
        columns, seconds = zero_cost_columns(tag, reported)
        tuning_columns = zero_cost_columns(tag, tuning)[0] if all(str(a) in present for a in tuning) else None
        joint = sum(seconds) / len(seconds)
        for name in PROXY_SCORES:
            per_cell = timing.get(tag, {}).get(name, joint)
            rows.append(table_row(f"{name} ({tag})", columns[name], truth, per_cell, per_cell * REPORTED / 60))
            points.append((rows[-1]["score"], rows[-1]["total_cpu_min"], rows[-1]["tau"]))
        more = fused_rows(f"zero-cost ensemble ({tag})", columns, tuning_columns, truth, tuning_truth, joint, 0.0)
        rows += more
        ensembles[tag] = (columns, tuning_columns, joint, more[-1])
    tag = args.fuse_tag
    previous = None
    for budget in (float(b) for b in args.budgets.split(",")):
        found = supernet_columns(budget, reported)
        found_tuning = supernet_columns(budget, tuning)
        if found is None or len(found["archs"]) < REPORTED or tag not in ensembles:
            continue
        train_min = found["train_s"] / 60
        score_min = found["score_s_per_cell"] * REPORTED / 60
        for name in ("supernet", "supernet_loss"):
            row = table_row(f"{name} ({budget:g} min, {found['steps']} steps)", found["columns"][name], truth,
                            found["score_s_per_cell"], train_min + score_min)
            rows.append(row)
            if name == "supernet":
                curves["supernet"].append((row["total_cpu_min"], row["tau"]))
        columns, tuning_columns, joint, _ = ensembles[tag]
        scored = [tuning.index(a) for a in found_tuning["archs"]]
        label = f"zero-cost ({tag}) + supernet ({budget:g} min)"
        tuning_scores = {**{n: [v[i] for i in scored] for n, v in tuning_columns.items()}, **found_tuning["columns"]}
        if 100 <= len(scored) < TUNING:
            label += f", tuned on {len(scored)} of the {TUNING} tuning cells"
        more = fused_rows(label, {**columns, **found["columns"]}, tuning_scores if len(scored) >= 100 else None,
                          truth, [tuning_truth[i] for i in scored], joint + found["score_s_per_cell"], train_min,
                          given=previous)
        previous = more[-1].pop("weights", previous)
        rows += more
        curves["fused"].append((more[-1]["total_cpu_min"], more[-1]["tau"]))
    if tag in ensembles:
        curves["fused"].insert(0, (ensembles[tag][3]["total_cpu_min"], ensembles[tag][3]["tau"]))
    params_tau = next(r["tau"] for r in rows if r["score"] == "params")
    (RESULTS / "predictors.json").write_text(json.dumps({"rows": rows, "curves": curves}, indent=1))
    plot(points, curves, params_tau, RESULTS / "predictors.png")
    table = markdown(rows)
    print(table)
    if args.markdown:
        with open(args.markdown, "a") as file:
            file.write(section(table))


def markdown(rows: list[dict]) -> str:
    """A markdown table of the rows."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def section(table: str) -> str:
    """The BENCHMARKS.md section around the table."""
    settings = "; ".join(f"`{tag}`: {text}" for tag, text in TAGS.items() if scores_path(tag).exists())
    return (f"\n## Zero-cost predictors and fused rankings (NAS-Bench-201, CIFAR-10; `benchmarks/predictors.py`)\n\n"
            f"1,000 cells `sample_architectures(nasbench201, 1500, seed=0)[:1000]` against `cifar10_test_acc`; "
            f"fusion weights chosen on the other 500 (disjoint). Proxies on untrained standalone subnets, "
            f"seed 0, CIFAR-10 training images of the 25k training half; {settings}. Times are this process's CPU time "
            f"(one thread) on the shared 2-core machine: s/cell per cell, total_cpu_min for all 1,000 cells "
            f"(training included); divide by 2 for minutes on the 2 cores.\n\n{table}\n\n"
            f"Plot: `benchmarks/results/predictors.png`\n")


def plot(points: list, curves: dict, params_tau: float, path: Path) -> None:
    """Kendall tau against total CPU-minutes: proxies as points, the supernet and fused curves, the params line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for label, minutes, tau in points:
        axis.scatter(max(minutes, 0.01), tau, s=18)
        axis.annotate(label, (max(minutes, 0.01), tau), fontsize=6)
    for name, style in (("supernet", "o-"), ("fused", "s-")):
        if curves[name]:
            xs, ys = zip(*curves[name])
            axis.plot(xs, ys, style, label=name if name == "supernet" else "fused (zero-cost + supernet)")
    axis.axhline(params_tau, color="grey", linestyle="--", label=f"params ({params_tau})")
    axis.set_xscale("log")
    axis.set_xlabel("total CPU-minutes for 1,000 cells (training + scoring)")
    axis.set_ylabel("Kendall tau vs CIFAR-10 test accuracy")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


FAST = {"channels": 8, "cells_per_stage": 5, "batch_size": 32, "batches": 2}
"""The proxy run fused with the supernet in searches (tag ``fast``)."""


def run_search(args) -> None:
    """Evolution over NB201 with the fused score (fast proxies + the supernet of ``--budget``
    CPU-minutes, weights chosen on the tuning cells, ranks against the 1,000 reported cells)
    for each seed: the true test accuracy of the returned cell and the CPU-minutes spent in
    all (training, scoring the 1,500 sampled cells, search), into ``predictors_search.json``.
    Seeds share the score caches, so a later seed reuses cells an earlier one scored; its search
    is charged at least what its cells outside the sample would cost to score afresh."""
    torch.set_num_threads(args.threads)
    record = json.loads((RESULTS / f"predictors_supernet_{args.budget:g}min.json").read_text())
    config = supernet_config(args.budget, record["steps"])
    splits = load_splits(config)
    space = build_space(config, splits[0])
    archs = cells(space)
    reported, tuning = archs[:REPORTED], archs[REPORTED:]
    truth = load_ground_truth(default_nasbench201_path(), "cifar10_test_acc")
    columns, seconds = zero_cost_columns("fast", archs)
    supernet = supernet_columns(args.budget, archs)
    columns.update(supernet["columns"])
    tuning_columns = {name: values[REPORTED:] for name, values in columns.items()}
    weights = {n: w for n, w in choose_weights(tuning_columns, [truth[str(a)] for a in tuning]).items() if w > 0}
    proxy_space = get_space("nasbench201", channels=FAST["channels"], cells_per_stage=FAST["cells_per_stage"])
    settings = ProxySettings(FAST["batch_size"], FAST["batches"], 0, data_split_context(config))
    cache = ScoreCache(RUNS / "search_scores.sqlite")
    zero_cost = [name for name in weights if name in ZERO_COST_SCORES]
    for name in zero_cost:
        for arch, value in zip(archs, columns[name]):
            cache.store(zero_cost_context(proxy_space, name, settings), str(arch), value)
    measures = zero_cost_measures(proxy_space, zero_cost, splits[0], settings, torch.device("cpu"), cache)
    measures.update(supernet_measures(config, space, splits, torch.device("cpu"), open_score_cache(config),
                                      scores=[name for name in weights if name not in ZERO_COST_SCORES]))
    sampled_min = (record["train_cpu_s"] + record["score_s_per_cell"] * len(archs) + sum(seconds)) / 60
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        accuracy = fused_measure(weights, measures, reported, ScoreCache(), SAMPLE_SEED)
        settings_search = SearchConfig(algorithm="evolution", population=args.population, generations=args.generations,
                                       parents=args.parents, mutations=args.population // 2,
                                       crossovers=args.population - args.population // 2, seed=seed)
        started = time.process_time()
        found = search_space(space, Objectives(space, accuracy), settings_search, accuracy)
        search_min = (time.process_time() - started) / 60
        sampled = {str(a) for a in archs}
        fresh = sum(c.arch not in sampled for c in found.history)
        fresh_min = fresh * (sum(seconds) / len(seconds) + record["score_s_per_cell"]) / 60
        results.append({"seed": seed, "arch": found.best.arch, "true_test_acc": truth[found.best.arch],
                        "fused_score": round(found.best.accuracy, 4), "queries": len(found.history),
                        "new_cells": fresh, "search_cpu_min": round(search_min, 2),
                        "total_cpu_min": round(sampled_min + max(search_min, fresh_min), 2)})
        print(results[-1], flush=True)
    summary = {"weights": weights, "budget_min": args.budget, "population": args.population,
               "generations": args.generations, "sampled_cells_cpu_min": round(sampled_min, 2), "runs": results,
               "mean_true_test_acc": round(sum(r["true_test_acc"] for r in results) / len(results), 3)}
    (RESULTS / "predictors_search.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


def add_proxy_options(parser: argparse.ArgumentParser) -> None:
    """Which proxy run (tag) and its network and batch settings."""
    parser.add_argument("--tag", default="full")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    phases = parser.add_subparsers(dest="phase", required=True)
    scores = phases.add_parser("scores", help="compute and cache every proxy of the sampled cells")
    timing = phases.add_parser("timing", help="CPU seconds per cell of each proxy alone")
    for command in (scores, timing):
        add_proxy_options(command)
    scores.add_argument("--azstyle", action="store_true", help="Gaussian-noise inputs, random labels, Kaiming init")
    scores.add_argument("--start", type=int, default=0)
    scores.add_argument("--stop", type=int, default=REPORTED + TUNING)
    timing.add_argument("--cells-timed", type=int, default=20)
    supernet = phases.add_parser("supernet", help="train the preset at each budget and score the sampled cells")
    supernet.add_argument("--budgets", default="3,10,30", help="CPU-minutes of training, comma-separated")
    supernet.add_argument("--threads", type=int, default=1)
    report = phases.add_parser("report", help="tables and plot from the cached results")
    report.add_argument("--budgets", default="3,10,30")
    report.add_argument("--fuse-tag", default="fast", help="which proxy run the supernet is fused with")
    report.add_argument("--markdown", default="", help="file the section is appended to (e.g. BENCHMARKS.md)")
    search = phases.add_parser("search", help="evolution with the fused score, 3 seeds")
    search.add_argument("--budget", type=float, default=10.0, help="CPU-minutes of the supernet fused with the proxies")
    search.add_argument("--seeds", default="0,1,2")
    search.add_argument("--population", type=int, default=50)
    search.add_argument("--generations", type=int, default=20)
    search.add_argument("--parents", type=int, default=10)
    search.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.phase == "search":
        run_search(args)
    elif args.phase == "report":
        run_report(args)
    elif args.phase == "scores":
        run_scores(args)
    elif args.phase == "timing":
        run_timing(args)
    elif args.phase == "supernet":
        run_supernet(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
