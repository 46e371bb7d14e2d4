"""Where data files are looked for when no directory is given: datasets, and the ground-truth
tables that ship beside them (``nasbench201.csv``)."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path | None:
    """The checkout holding ``src/supernas``, or None when supernas is installed elsewhere."""
    package = Path(__file__).resolve().parents[1]
    return package.parents[1] if package.parent.name == "src" else None


def data_dirs() -> list[Path]:
    """Data directories searched when no root is given, in order: ``$SUPERNAS_DATA``,
    ``./.data``, ``<repo>/.data``, ``<repo>/../shared/data``, ``./../shared/data``."""
    repo = repo_root()
    candidates = [Path(os.environ["SUPERNAS_DATA"]).expanduser()] if os.environ.get("SUPERNAS_DATA") else []
    candidates.append(Path.cwd() / ".data")
    if repo is not None:
        candidates += [repo / ".data", repo.parent / "shared" / "data"]
    candidates.append(Path.cwd().parent / "shared" / "data")
    return list(dict.fromkeys(path.resolve() for path in candidates))
