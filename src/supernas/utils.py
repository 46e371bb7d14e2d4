"""Small shared helpers: atomic file writes, devices, seeding."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

from supernas.errors import SupernasError


def atomic_write_bytes(path: str | Path, data: bytes, previous: str | Path | None = None) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part.

    The data is written and synced to a temporary file first; only then is the file at ``path``
    renamed to ``previous`` (when given and ``path`` exists) and the new one renamed into place.
    A failed write (``OSError``: full disk, read-only directory) leaves existing files as they were.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def reported_write_errors(target: str | Path, note: str = "") -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block (full disk, read-only or unwritable directory)
    into a one-line :class:`SupernasError` naming ``target``, followed by ``note`` when given."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise SupernasError(f"cannot write {target}: {reason}" + (f"; {note}" if note else "")) from None


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode())


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available else cpu; anything else as torch understands it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixing integers (stable across runs and platforms)."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value ^= (int(part) + 0x9E3779B97F4A7C15 + (value << 6) + (value >> 2)) & 0xFFFFFFFFFFFFFFFF
        value = (value * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    return value & 0x7FFFFFFFFFFFFFFF


def seeded_generator(*parts: int) -> torch.Generator:
    """A CPU torch generator seeded from ``parts``."""
    return torch.Generator().manual_seed(derived_seed(*parts))


def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse instead of returning large blocks to
    the OS after every free. On CPU, convolution activations of tens of MB are otherwise
    mapped and unmapped at every layer, and the page faults can cost as much system time as the
    computation itself. Process-wide; returns whether it applied (glibc only)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mmap_threshold, trim_threshold, largest = -3, -1, 1 << 30
    return bool(mallopt(mmap_threshold, largest)) and bool(mallopt(trim_threshold, largest))


def read_jsonl(path: str | Path) -> list[dict]:
    """The JSON records of a file of one record a line (none when it does not exist); a line cut
    short by a killed writer is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
