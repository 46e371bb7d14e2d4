"""Small shared helpers: atomic file writes, devices, seeding."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
