"""Command line: ``supernas train | rank | search | export | retrain | run | groundtruth | spaces | sbn | report | study``.

Thin: read the config (YAML file or preset, then dotted overrides such as ``--train.lr 0.05``),
call one public function, print the result. User errors print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import inspect
import sys
import time
import warnings
from pathlib import Path

from supernas.config import Config, leaf_fields, load_config
from supernas.errors import SupernasError
from supernas.runs.files import STUDY_TABLE_MD, config_file

COMMANDS = {
    "train": "train (or resume) a supernet in --run_dir",
    "rank": "score subnets of a trained supernet and compare them with ground truth",
    "search": "search architectures (nsga2, evolution or random) with the run's supernet or a ground-truth table",
    "export": "write the searched architecture as a standalone model (supernet weights, subnet.pt and model.onnx)",
    "retrain": "train the searched architecture from scratch and report its test accuracy",
    "run": "the main job: train a supernet, rank it against ground truth (NAS-Bench-201), search with NSGA-II, export",
    "spaces": "list the search spaces and their options",
    "groundtruth": "train sampled architectures from scratch (several seeds) and write a ground-truth table for rank",
    "sbn": "Shadow BN diagnostics of a trained supernet: BN_k vs BN_1 statistics and affine parameters per layer",
    "report": "figures of a run (training curves, ranking, Pareto front, CaLR, Shadow BN, paths) as PNGs and one HTML page",
    "study": "train and rank every (variant, seed) of a study file, each in its own run directory, resuming what is unfinished, and write one aggregated table",
}


RUN_DIR_COMMANDS = {"sbn": "run directory holding checkpoints/last.pt",
                    "report": "run directory (the report goes to RUN_DIR/report/)"}
"""Commands that take only a run directory."""


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "none")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one :class:`SupernasError` line pointing at ``--help``
    (instead of the usage text and exit), and which takes no abbreviated option names."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str):
        raise SupernasError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every config option is a dotted flag with its help text."""
    parser = OneLineParser(prog="supernas", description="Weight-sharing neural architecture search.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = Config()
    for name, help_text in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog="Space options are given as --space.options.NAME VALUE (see 'supernas spaces').")
        if name == "spaces":
            continue
        if name == "study":
            sub.add_argument("study_file", metavar="STUDY.yaml", help="study file: base config, variants, seeds, cells, scores")
            sub.add_argument("--only", metavar="VARIANT[,VARIANT]", help="work only on these variants' runs (the table still shows every finished run)")
            sub.add_argument("--table-only", action="store_true", help="train and rank nothing: write the table of the runs finished so far")
            continue
        if name in RUN_DIR_COMMANDS:
            sub.add_argument("run_dir", metavar="RUN_DIR", help=RUN_DIR_COMMANDS[name])
            continue
        sub.add_argument("--config", help="YAML config file or preset name (e.g. nb201-fast); "
                         "rank/run default to RUN_DIR/config.yaml when it exists")
        for dotted, annotation, item in leaf_fields():
            current = defaults
            for part in dotted.split("."):
                current = getattr(current, part)
            sub.add_argument(f"--{dotted}", dest=dotted, metavar=_type_name(annotation).upper(), default=None,
                             help=f"{item.metadata.get('help', '')} (default: {current!r})")
    return parser


def option_flags() -> list[str]:
    """Every option a config command takes, as written on the command line."""
    return ["--config", *(f"--{dotted}" for dotted, _, _ in leaf_fields()), "--space.options.NAME"]


def unknown_option(flag: str, command: str) -> SupernasError:
    """The one-line error for an option ``command`` does not take: the closest valid ones and ``--help``."""
    close = difflib.get_close_matches(flag, option_flags(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return SupernasError(f"unrecognised argument {flag!r}{hint} (see supernas {command} --help)")


def split_overrides(args: argparse.Namespace, extra: list[str]) -> dict[str, str]:
    """Dotted overrides from parsed flags plus ``--space.options.NAME VALUE`` pairs."""
    overrides = {key: value for key, value in vars(args).items() if "." in key or key == "run_dir"}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    index = 0
    while index < len(extra):
        flag = extra[index]
        if not flag.startswith("--space.options.") or index + 1 >= len(extra):
            raise unknown_option(flag, args.command)
        overrides[flag[2:]] = extra[index + 1]
        index += 2
    return overrides


SAVED_CONFIG_COMMANDS = ("rank", "search", "export", "retrain", "run")
"""Commands that default to the run directory's saved config.yaml."""


def resolve_config(args: argparse.Namespace, overrides: dict[str, str]) -> Config:
    """The config a command runs with: file or preset (or the run's saved config), then overrides."""
    source = args.config
    if source is None and args.command in SAVED_CONFIG_COMMANDS:
        run_dir = overrides.get("run_dir", Config().run_dir)
        saved = config_file(run_dir)
        if saved.is_file():
            source = str(saved)
    return load_config(source, overrides)


def print_spaces() -> None:
    from supernas.spaces import list_spaces, space_builder

    for name in list_spaces():
        builder = space_builder(name)
        signature = inspect.signature(builder)
        options = ", ".join(f"{p.name}={p.default!r}" for p in signature.parameters.values())
        print(f"{name}: {options}")
        doc = inspect.getdoc(builder) or ""
        print("    " + doc.splitlines()[0] if doc else "")


def command_train(config: Config) -> None:
    from supernas.train.trainer import train_supernet

    result = train_supernet(config)
    passes = result.forward_passes / max(result.train_seconds, 1e-9)
    print(f"trained {result.steps} steps (resumed from {result.resumed_from}) in {result.train_seconds:.1f} s, "
          f"{result.images_per_second:.0f} images/s ({passes:.0f} subnet forward passes/s), "
          f"final loss {result.final_loss:.4f}; run dir {result.run_dir}")


def command_rank(config: Config) -> None:
    from supernas.rank import rank_run

    result = rank_run(config)
    m, p = result.metrics, result.params_metrics
    if m is None:
        print(f"scored {len(result.scores)} architectures by {result.label} in {result.score_seconds:.1f} s (no ground "
              f"truth for space {config.space.name!r}: scores only; --rank.ground_truth FILE ranks them)")
        print(f"{'paths':<8}{'count':>6}{'mean':>8}{'std':>8}{'min':>8}{'median':>8}{'max':>8}")
        for paths, row in result.by_paths.items():
            print(f"{paths:<8}{row['count']:>6}" + "".join(f"{row[key]:>8.2f}" for key in ("mean", "std", "min", "median", "max")))
        print(f"written to {result.out_dir}/scores.json and scores.csv")
        return
    print(f"ranked {m.num_archs} architectures by {result.label} in {result.score_seconds:.1f} s "
          f"against {config.rank.column}")
    rows = [(result.label, m), *result.component_metrics.items(), ("param count", p)]
    width = max(16, *(len(label) + 2 for label, _ in rows))
    print(f"{'predictor':<{width}}{'kendall_tau':>12}{'spearman':>10}{'prec@top':>10}{'top1_true':>11}{'best_true':>11}")
    for label, row in rows:
        print(f"{label:<{width}}{row.kendall_tau:>12.4f}{row.spearman_rho:>10.4f}{row.precision_at_top:>10.3f}"
              f"{row.top1_true:>11.2f}{row.best_true:>11.2f}")
    print(f"written to {result.out_dir}/ranking.json and ranking.csv")


def command_search(config: Config) -> None:
    from supernas.search.report import front_table
    from supernas.search.runner import search_run

    run = search_run(config)
    result = run.result
    print(f"searched {result.queries} architectures with {result.algorithm} in {result.seconds:.1f} s "
          f"({result.computed} scored, {result.reused} from the cache); Pareto front, accuracy vs {result.cost}"
          f"{', true = ' + run.truth.column if run.truth else ''}, * = most accurate:")
    print(front_table(result, run.truth))
    print(f"written to {run.out_dir}/pareto.json, pareto.csv, history.csv and pareto.png")


def command_export(config: Config) -> None:
    from supernas.subnet.export import export_run

    result = export_run(config)
    weights = "supernet weights, calibrated BN" if result.inherited else "untrained weights (no supernet in the run)"
    print(f"exported {result.arch} ({weights}) to {result.out_dir}/subnet.pt; ONNX: {result.onnx}")


def command_retrain(config: Config) -> None:
    from supernas.subnet.retrain import retrain_run

    result = retrain_run(config)
    print(f"retrained {result.arch} ({result.params:,} parameters) for {result.steps} steps (resumed from "
          f"{result.resumed_from}) in {result.train_seconds:.1f} s: test accuracy {result.test_accuracy:.2f}%; "
          f"written to {result.out_dir}/result.json")


def command_run(config: Config) -> None:
    """The main job: train, rank against ground truth when the space has one, search, export."""
    from supernas.spaces import space_builder

    started = time.perf_counter()
    command_train(config)
    if config.rank.ground_truth or space_builder(config.space.name).default_ground_truth:
        command_rank(config)
    command_search(config)
    command_export(config)
    print(f"main job finished in {time.perf_counter() - started:.0f} s; results in {config.run_dir}")


def command_groundtruth(config: Config) -> None:
    from supernas.groundtruth.builder import groundtruth_run

    result = groundtruth_run(config)
    print(f"ground truth for {result.num_archs} architectures x {result.seeds} seeds (recipe {result.recipe_hash}): "
          f"trained {result.trained}, reused {result.reused}, in {result.seconds:.1f} s; mean test accuracy "
          f"{result.mean_accuracy:.2f}%, seed-to-seed Kendall tau {result.seed_tau:.3f}")
    print(f"written to {result.table} (rank with --rank.ground_truth {result.table} --rank.column test_acc)")


COMMAND_FUNCTIONS = {"train": command_train, "rank": command_rank, "search": command_search,
                     "export": command_export, "retrain": command_retrain, "run": command_run,
                     "groundtruth": command_groundtruth}


def command_sbn(run_dir: str) -> None:
    from supernas.report.sbn import diagnose_run, format_rows

    print(format_rows(diagnose_run(run_dir)))


def command_report(run_dir: str) -> None:
    from supernas.report.run_report import build_report

    result = build_report(run_dir)
    print(f"report of {run_dir}: {len(result.figures)} figures in {result.out_dir}, page {result.html}")
    for note in result.notes:
        print(f"  skipped {note}")


RUN_DIR_FUNCTIONS = {"sbn": command_sbn, "report": command_report}


def command_study(study_file: str, only: str | None, table_only: bool) -> None:
    from supernas.study import run_study

    variants = [name.strip() for name in only.split(",") if name.strip()] if only is not None else None
    result = run_study(study_file, report=lambda line: print(line, flush=True), only=variants, table_only=table_only)
    print(f"study {study_file}: trained {result.trained} runs and ranked {result.ranked} (run, score) pairs in this call")
    if result.pending:
        print(f"{len(result.pending)} runs are not finished ({', '.join(result.pending)}): another study process holds "
              f"them, or --only or --table-only left them out; run the study again when they are done for the whole table")
    if result.rows:
        print("finished runs, mean ± std over seeds:")
        print((Path(result.out_dir) / STUDY_TABLE_MD).read_text(), end="")
        print(f"written to {result.out_dir}/table.md, table.csv, runs.csv, table.json and table.png")


def printing_on_rank_zero() -> contextlib.AbstractContextManager:
    """Under torchrun, only rank 0 prints results (every rank still reports errors)."""
    from supernas.runs.distributed import is_main_process

    return contextlib.nullcontext() if is_main_process() else contextlib.redirect_stdout(io.StringIO())


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings of the library (e.g. a damaged checkpoint set aside) as ``supernas: warning: ...``."""
    return f"supernas: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``supernas`` console script."""
    warnings.formatwarning = one_line_warning
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra and args.command not in COMMAND_FUNCTIONS:
            raise SupernasError(f"unrecognised argument {extra[0]!r} (see supernas {args.command} --help)")
        if args.command == "spaces":
            print_spaces()
            return 0
        if args.command in RUN_DIR_FUNCTIONS:
            RUN_DIR_FUNCTIONS[args.command](args.run_dir)
            return 0
        if args.command == "study":
            command_study(args.study_file, args.only, args.table_only)
            return 0
        config = resolve_config(args, split_overrides(args, extra))
        with printing_on_rank_zero():
            COMMAND_FUNCTIONS[args.command](config)
    except SupernasError as error:
        print(f"supernas: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("supernas: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
