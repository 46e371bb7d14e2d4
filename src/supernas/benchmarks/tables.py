"""Ground-truth tables: a CSV with an ``arch`` column plus numeric columns.

The NAS-Bench-201 table (``nasbench201.csv``: ``arch, index, cifar10_test_acc,
cifar100_test_acc, imagenet16_test_acc``) is one such table; tables written for other spaces
may carry any further columns (per-seed accuracies, FLOPs, a recipe name). A
:class:`GroundTruth` holds one chosen numeric column, keyed by the canonical architecture
string; the names of all columns are kept so callers can pick another.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import supernas
from supernas.errors import SupernasError

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


def _nasbench201_candidates() -> list[Path]:
    """Where ``nasbench201.csv`` is looked for, first match wins."""
    repo_root = Path(supernas.__file__).resolve().parents[2]
    cwd = Path.cwd()
    folders = [
        cwd / ".data",
        repo_root / ".data",
        repo_root.parent / "shared" / "data",
        cwd.parent / "shared" / "data",
    ]
    if os.environ.get("SUPERNAS_DATA"):
        folders.insert(0, Path(os.environ["SUPERNAS_DATA"]))
    return [folder / NASBENCH201_FILE for folder in folders]


def default_nasbench201_path() -> Path | None:
    """The first existing ``nasbench201.csv`` among the usual places, or ``None``.

    Looked for in ``$SUPERNAS_DATA``, ``<cwd>/.data``, ``<repo root>/.data``,
    ``<repo root>/../shared/data`` and ``<cwd>/../shared/data``, in that order.
    """
    return next((path for path in _nasbench201_candidates() if path.is_file()), None)
