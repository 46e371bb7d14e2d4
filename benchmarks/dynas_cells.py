"""DYNAS's Kendall-τ cell sample as a cells file for ``supernas study`` (``cell_subsets``).

DYNAS (cvlab-yonsei/DYNAS) reports Kendall τ on the NAS-Bench-201 cells whose indices it keeps in
``exps/NAS-Bench-201-algos/benchmark_data/kendal_320_idx.pkl`` (a list of 327 indices, picked
from accuracy bins), where counting parameters already reaches τ 0.637 against 0.577 on the
whole space. Its index of a cell enumerates the six edges (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2),
the first the most significant, each a base-5 digit over (none, skip_connect, nor_conv_1x1,
nor_conv_3x3, avg_pool_3x3). This script reads a DYNAS checkout's index list and CIFAR-10
accuracy list (plain pickled lists of numbers; anything else is refused), checks the index
order against ``nasbench201.csv`` (DYNAS's accuracy of every cell beside ours) and writes the
cells as NB201 strings, one per line:

    python benchmarks/dynas_cells.py /path/to/DYNAS studies/cells/nb201-dynas-kendall.txt
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
from pathlib import Path

from scipy import stats

from supernas.errors import SupernasError
from supernas.groundtruth.tables import default_nasbench201_path, load_ground_truth
from supernas.spaces import get_space

DYNAS_DATA = Path("exps/NAS-Bench-201-algos/benchmark_data")
DYNAS_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The operations in the order of DYNAS's cell index digits."""


class NumbersOnly(pickle.Unpickler):
    """An unpickler for lists of numbers: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> None:
        raise SupernasError(f"refusing to unpickle {module}.{name}: expected a plain list of numbers")


def read_number_list(path: Path) -> list:
    """A pickled list of numbers at ``path``."""
    try:
        values = NumbersOnly(io.BytesIO(path.read_bytes())).load()
    except OSError as error:
        raise SupernasError(f"cannot read {path}: {error.strerror}") from None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
        raise SupernasError(f"{path} does not hold a list of numbers")
    return values


def dynas_cell(index: int) -> str:
    """The NB201 string of the cell DYNAS numbers ``index``."""
    digits = []
    for _ in range(6):
        index, digit = divmod(index, 5)
        digits.append(DYNAS_OPS[digit])
    ops = digits[::-1]
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dynas", type=Path, help="a checkout of cvlab-yonsei/DYNAS")
    parser.add_argument("out", type=Path, help="cells file to write")
    args = parser.parse_args(argv)
    try:
        indices = read_number_list(args.dynas / DYNAS_DATA / "kendal_320_idx.pkl")
        accuracies = read_number_list(args.dynas / DYNAS_DATA / "cifar10_accs.pkl")
        truth = load_ground_truth(default_nasbench201_path(), "cifar10_test_acc")
    except SupernasError as error:
        print(f"dynas_cells: error: {error}", file=sys.stderr)
        return 2
    space = get_space("nasbench201")
    cells = [str(space.parse(dynas_cell(index))) for index in indices]
    differences = [abs(accuracies[index] - truth[dynas_cell(index)]) for index in range(len(accuracies))]
    mean_difference = sum(differences) / len(differences)
    if len(accuracies) != 15625 or mean_difference > 0.1:
        print(f"dynas_cells: error: DYNAS's accuracies do not follow the assumed cell order "
              f"(mean |difference| {mean_difference:.3f} over {len(accuracies)} cells)", file=sys.stderr)
        return 2
    params_tau = stats.kendalltau([space.complexity(space.parse(c), "params") for c in cells], [truth[c] for c in cells]).statistic
    header = (f"# DYNAS's Kendall-tau cells ({len(cells)} NAS-Bench-201 cells picked from accuracy bins), converted by\n"
              f"# benchmarks/dynas_cells.py from cvlab-yonsei/DYNAS {DYNAS_DATA}/kendal_320_idx.pkl; DYNAS's CIFAR-10\n"
              f"# accuracies differ from nasbench201.csv by {mean_difference:.3f} points on average over all 15,625 cells.\n"
              f"# Parameter count on these cells: Kendall tau {params_tau:.3f}.\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + "".join(cell + "\n" for cell in cells))
    print(f"wrote {len(cells)} cells to {args.out}; parameter count tau {params_tau:.3f}; "
          f"mean |DYNAS - ours| accuracy {mean_difference:.3f} over {len(accuracies)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
