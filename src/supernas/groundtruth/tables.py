"""Ground-truth tables: a CSV with an ``arch`` column plus numeric columns.

The NAS-Bench-201 table (``nasbench201.csv``: ``arch, index, cifar10_test_acc,
cifar100_test_acc, imagenet16_test_acc``) is one such table; tables written for other spaces
may carry any further columns (per-seed accuracies, FLOPs, a recipe name). A
:class:`GroundTruth` holds one chosen numeric column, keyed by the canonical architecture
string; the names of all columns are kept so callers can pick another.

Tables are found in the same data directories as datasets; a run's table is ``rank.ground_truth``
or its space's default (``Space.default_ground_truth``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from supernas.config import Config
from supernas.data.paths import data_dirs
from supernas.errors import SupernasError
from supernas.spaces.base import Architecture, Space

ARCH_COLUMN = "arch"
NASBENCH201_FILE = "nasbench201.csv"


@dataclass(frozen=True)
class GroundTruth:
    """One numeric column of a ground-truth table, keyed by architecture string."""

    path: str
    column: str
    values: dict[str, float]
    columns: tuple[str, ...]

    def __getitem__(self, arch: str) -> float:
        try:
            return self.values[arch]
        except KeyError:
            raise SupernasError(
                f"architecture {arch!r} has no {self.column!r} value in {self.path}"
            ) from None

    def __contains__(self, arch: object) -> bool:
        return arch in self.values

    def __len__(self) -> int:
        return len(self.values)


def _parse_value(raw: str, column: str, path: Path, line: int) -> float:
    """``raw`` as a finite float, else a :class:`SupernasError` naming the line."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise SupernasError(f"{path}: line {line}: {column} value {raw!r} is not a finite number")
    return value


def load_ground_truth(path: str | Path, column: str) -> GroundTruth:
    """Read ``column`` of the CSV table at ``path``; rows whose value is empty are skipped.

    Raises :class:`SupernasError` when the file is missing or has no ``arch`` column, when
    ``column`` is not in the header (the message lists the columns there are), when a row has
    the wrong number of fields, an empty or repeated ``arch``, or a value that is not a
    finite number (the message names the line, counting the header as line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise SupernasError(f"ground-truth table not found: {path}")
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        header = tuple(name.strip() for name in next(reader, []))
        if ARCH_COLUMN not in header:
            raise SupernasError(
                f"{path} has no {ARCH_COLUMN!r} column; columns are: {', '.join(header)}"
            )
        if column not in header:
            raise SupernasError(
                f"{path} has no column {column!r}; columns are: {', '.join(header)}"
            )
        arch_at, value_at = header.index(ARCH_COLUMN), header.index(column)
        values: dict[str, float] = {}
        seen: set[str] = set()
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise SupernasError(
                    f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
                )
            arch, raw = row[arch_at].strip(), row[value_at].strip()
            if not arch:
                raise SupernasError(f"{path}: line {line}: empty {ARCH_COLUMN}")
            if arch in seen:
                raise SupernasError(f"{path}: line {line}: architecture {arch!r} appears twice")
            seen.add(arch)
            if raw:
                values[arch] = _parse_value(raw, column, path, line)
    return GroundTruth(path=str(path), column=column, values=values, columns=header)


def find_table(name: str) -> Path | None:
    """The first existing file called ``name`` in the data directories
    (:func:`~supernas.data.paths.data_dirs`), or ``None``."""
    return next((folder / name for folder in data_dirs() if (folder / name).is_file()), None)


def default_nasbench201_path() -> Path | None:
    """Where ``nasbench201.csv`` is: the first of the data directories holding it, or ``None``."""
    return find_table(NASBENCH201_FILE)


def has_ground_truth(config: Config, space: Space) -> bool:
    """Whether ``rank.ground_truth`` names a table or the space has a default one
    (``Space.default_ground_truth``)."""
    return config.rank.ground_truth is not None or space.default_ground_truth is not None


def ground_truth_for(config: Config, space: Space) -> GroundTruth:
    """The run's ground-truth table: ``rank.ground_truth`` when given, else the space's default
    table found in the data directories; column ``rank.column``."""
    if not has_ground_truth(config, space):
        raise SupernasError(f"no ground-truth table for space {space.name!r}; pass --rank.ground_truth FILE")
    path = config.rank.ground_truth
    if path is None:
        path = find_table(space.default_ground_truth)
        if path is None:
            raise SupernasError(f"{space.default_ground_truth} not found; pass --rank.ground_truth PATH "
                                "(it ships in shared/data)")
    return load_ground_truth(path, config.rank.column)


def read_architectures(space: Space, path: str | Path) -> list[Architecture]:
    """Architectures listed one per line in ``path`` (blank lines and ``#`` comments skipped),
    or, for a ``.csv`` file, the ``arch`` column of a ground-truth table."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise SupernasError(f"cannot read architecture file {path}: {error.strerror}") from None
    if Path(path).suffix == ".csv":
        table = list(csv.DictReader(lines))
        if not table or ARCH_COLUMN not in table[0]:
            raise SupernasError(f"{path} has no {ARCH_COLUMN!r} column to read architectures from")
        lines = [row[ARCH_COLUMN] for row in table]
    return [space.parse(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]
