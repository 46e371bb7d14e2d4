"""Per-architecture measurements cached in SQLite, so no architecture is measured twice.

A measurement (supernet accuracy, a ground-truth value, a latency) is identified by its
*context*: a JSON-able dict of everything the value depends on besides the architecture (the
checkpoint's hash, calibration settings, the data split, the device...). The cache maps
(context, architecture string) to the value and commits every value as soon as it is known,
so a killed search keeps all it had measured and a rerun measures only what is missing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from supernas.errors import SupernasError
from supernas.spaces.base import Architecture

_SCHEMA = """CREATE TABLE IF NOT EXISTS scores (
    context TEXT NOT NULL,
    arch TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (context, arch)
)"""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        raise SupernasError(f"cannot read {path}: {error.strerror}") from None
    return digest.hexdigest()


def context_key(context: dict) -> str:
    """The canonical text of a context (sorted keys, no spaces): the cache key beside the arch."""
    return json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)


class ScoreCache:
    """A SQLite table of (context, arch) -> value at ``path`` (``":memory:"`` for a private one)."""

    def __init__(self, path: str | Path = ":memory:"):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = sqlite3.connect(str(path), timeout=60)
            self.connection.execute(_SCHEMA)
            self.connection.commit()
        except sqlite3.DatabaseError as error:
            raise SupernasError(f"score cache {path} cannot be used: {error}") from None
        self.path = str(path)

    def lookup(self, context: dict, archs: Sequence[str]) -> dict[str, float]:
        """The cached values of those of ``archs`` that have one, by architecture string."""
        key = context_key(context)
        found: dict[str, float] = {}
        for start in range(0, len(archs), 500):
            chunk = list(archs[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.connection.execute(f"SELECT arch, value FROM scores WHERE context = ? AND arch IN ({marks})",
                                           [key, *chunk])
            found.update(rows)
        return found

    def store(self, context: dict, arch: str, value: float) -> None:
        """Record one value and commit it at once (a failed write, e.g. a full disk, is one
        line naming the cache; the values committed before stay)."""
        try:
            with self.connection:
                self.connection.execute("INSERT OR REPLACE INTO scores (context, arch, value) VALUES (?, ?, ?)",
                                        (context_key(context), arch, float(value)))
        except sqlite3.Error as error:
            raise SupernasError(f"cannot write score cache {self.path}: {error}; the scores committed before are kept") from None

    def count(self, context: dict) -> int:
        """How many architectures have a value under ``context``."""
        return self.connection.execute("SELECT COUNT(*) FROM scores WHERE context = ?",
                                       (context_key(context),)).fetchone()[0]

    def close(self) -> None:
        self.connection.close()


@dataclass
class CachedMeasure:
    """A per-architecture measurement behind a :class:`ScoreCache`.

    ``measure(arch)`` computes one value; ``context`` says what the value depends on. Calling
    the object with a list of architectures returns their values in order, computing (and
    committing) only those not cached yet. ``computed`` and ``reused`` count what it did;
    ``on_computed(arch, value)`` is told about each new value (progress bars).
    """

    measure: Callable[[Architecture], float]
    context: dict
    cache: ScoreCache
    on_computed: Callable[[Architecture, float], None] | None = None
    computed: int = field(default=0, init=False)
    reused: int = field(default=0, init=False)

    def __call__(self, archs: Sequence[Architecture]) -> list[float]:
        names = [str(arch) for arch in archs]
        values = self.cache.lookup(self.context, names)
        self.reused += sum(name in values for name in dict.fromkeys(names))
        for arch, name in zip(archs, names):
            if name not in values:
                values[name] = float(self.measure(arch))
                self.cache.store(self.context, name, values[name])
                self.computed += 1
                if self.on_computed is not None:
                    self.on_computed(arch, values[name])
        return [values[name] for name in names]


def shared_measures(compute: Callable[[Architecture], dict[str, float]], contexts: dict[str, dict],
                    cache: ScoreCache) -> dict[str, CachedMeasure]:
    """One cached measure per value that one computation yields (``compute(arch)`` returns
    every name of ``contexts``): the first of them asked about an architecture computes all,
    its measure commits its own value and the others are committed here under their contexts,
    so the other measures find theirs in the cache (each value committed once)."""
    latest: dict[str, dict[str, float]] = {}

    def value(arch: Architecture, name: str) -> float:
        key = str(arch)
        if key not in latest:
            values = compute(arch)
            for other, context in contexts.items():
                if other != name:
                    cache.store(context, key, values[other])
            latest.clear()
            latest[key] = values
        return latest[key][name]

    return {name: CachedMeasure(functools.partial(value, name=name), context, cache) for name, context in contexts.items()}
