"""Checkpoints: one dict (model, policy: optimizer and every momentum group, step, config,
space), written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import torch

from supernas.errors import SupernasError
from supernas.utils import atomic_write_bytes

FORMAT = "supernas-checkpoint-v1"

RESULT_NEUTRAL_KEYS = {("train", "log_every"), ("train", "checkpoint_every"), ("train", "progress"), ("run_dir",),
                       ("data", "device"), ("data", "root")}
"""Config entries that do not change what training computes; they may differ on resume."""

AFTER_TRAINING_SECTIONS = {"rank", "search", "export", "retrain"}
"""Config sections read only after the supernet is trained; checkpoints ignore them."""


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` (plus a format tag) to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (``weights_only=True``); one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise SupernasError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise SupernasError(f"checkpoint {path} was refused: it holds objects other than tensors and plain data ({str(error).splitlines()[0][:120]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise SupernasError(f"checkpoint {path} is truncated or corrupted ({str(error).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SupernasError(f"{path} is not a supernas checkpoint")
    return state


def _flatten(values: dict, prefix: tuple = ()) -> dict[tuple, object]:
    """Nested dicts as {(key, subkey, ...): leaf}."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def check_compatible(state: dict, space_description: dict, config: dict, path: str | Path) -> None:
    """Raise if a checkpoint was made for another space or a config that trains differently."""
    if state["space"] != space_description:
        differing = sorted(k for k in set(state["space"]) | set(space_description)
                           if state["space"].get(k) != space_description.get(k))
        saved_space = state["space"]
        details = ", ".join(f"{k}: {saved_space.get(k)!r} vs {space_description.get(k)!r}" for k in differing)
        raise SupernasError(f"checkpoint {path} is from a different search space ({details})")
    saved, current = _flatten(state["config"]), _flatten(config)
    differing = [key for key in sorted(set(saved) | set(current), key=str)
                 if key[0] not in AFTER_TRAINING_SECTIONS and key not in RESULT_NEUTRAL_KEYS and saved.get(key) != current.get(key)]
    if differing:
        details = ", ".join(f"{'.'.join(k)}: {saved.get(k)!r} vs {current.get(k)!r}" for k in differing[:4])
        raise SupernasError(f"checkpoint {path} was trained with a different config ({details}); use another run_dir or the same settings")
