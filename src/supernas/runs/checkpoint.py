"""Checkpoints: one dict (model, policy: optimizer and every momentum group, step, config,
space), written atomically, read with ``weights_only=True``.

A checkpoint file holds the state's serialised bytes with their SHA-256, so a truncated or
corrupted file is detected when it is read (torch's own format does not check tensor bytes).
Writing a checkpoint keeps the one it replaces beside it (``last.pt`` -> ``prev.pt``); resuming
falls back to that one, with a warning, when the latest is missing, truncated or corrupted.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
from pathlib import Path

import torch

from supernas.config import Config, TrainConfig, effective_grad_clip, to_dict
from supernas.errors import SupernasError
from supernas.runs.files import PREVIOUS_CHECKPOINT
from supernas.utils import atomic_write_bytes, reported_write_errors

FORMAT = "supernas-checkpoint-v2"
LEGACY_FORMAT = "supernas-checkpoint-v1"
"""Checkpoints written before the checksum: the state itself, with this format tag (read unchecked)."""

RESULT_NEUTRAL_KEYS = {("train", "log_every"), ("train", "checkpoint_every"), ("train", "progress"), ("train", "tensorboard"),
                       ("run_dir",), ("data", "device"), ("data", "root"), ("data", "workers")}
"""Config entries that do not change what training computes; they may differ on resume."""

AFTER_TRAINING_SECTIONS = {"rank", "search", "export", "retrain", "groundtruth"}
"""Config sections read only after the supernet is trained; checkpoints ignore them."""


def previous_checkpoint_path(path: str | Path) -> Path:
    """Where the checkpoint replaced by a newer one at ``path`` is kept: ``prev.pt`` beside it."""
    return Path(path).with_name(PREVIOUS_CHECKPOINT)


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically with its checksum, keeping the checkpoint it
    replaces at :func:`previous_checkpoint_path`. A failed write (full disk, read-only run
    directory) raises a one-line :class:`SupernasError` and leaves both files as they were."""
    payload = io.BytesIO()
    torch.save(state, payload)
    data = payload.getvalue()
    framed = io.BytesIO()
    torch.save({"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(),
                "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}, framed)
    with reported_write_errors(f"checkpoint {path}", "the previous checkpoint was kept"):
        atomic_write_bytes(path, framed.getvalue(), previous=previous_checkpoint_path(path))


def _load_error_reason(error: Exception) -> str:
    """The most specific line of a ``torch.load`` error (torch puts generic advice first)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    specific = [line for line in lines if "GLOBAL" in line or "Unsupported" in line]
    return (specific or lines or [type(error).__name__])[0][:160]


def _safe_load(source, path: Path):
    """``torch.load(source, weights_only=True)`` with one-line errors naming ``path``."""
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise SupernasError(f"checkpoint {path} was refused: it holds more than tensors and plain data "
                            f"({_load_error_reason(error)})") from None
    except Exception as error:  # noqa: BLE001 -- arbitrary bytes make torch.load raise almost any type
        raise SupernasError(f"checkpoint {path} is truncated or corrupted ({_load_error_reason(error)})") from None


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (``weights_only=True``, checksum verified); one-line errors for
    missing, truncated, corrupted, foreign or code-carrying files."""
    path = Path(path)
    if not path.is_file():
        raise SupernasError(f"checkpoint {path} does not exist")
    framed = _safe_load(path, path)
    if not isinstance(framed, dict) or framed.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise SupernasError(f"{path} is not a supernas checkpoint")
    if framed["format"] == LEGACY_FORMAT:
        return framed
    payload = framed.get("payload")
    if not torch.is_tensor(payload) or payload.dtype != torch.uint8:
        raise SupernasError(f"{path} is not a supernas checkpoint")
    data = payload.numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != framed.get("sha256"):
        raise SupernasError(f"checkpoint {path} is corrupted: its bytes do not match the checksum written with them")
    state = _safe_load(io.BytesIO(data), path)
    if not isinstance(state, dict):
        raise SupernasError(f"{path} is not a supernas checkpoint")
    return state


def load_resumable_checkpoint(path: str | Path, set_aside: bool = True) -> dict | None:
    """The checkpoint to resume from: the one at ``path``, or, when that is missing, truncated
    or corrupted, the previous one, with a warning. With ``set_aside`` (the process that writes
    checkpoints) the rejected file is renamed to ``<name>.rejected``, so that the next save does
    not rotate it over the good one, and temporary files of writes that were killed are deleted.
    ``None`` when there is neither; a one-line error when no good one is left."""
    path = Path(path)
    previous = previous_checkpoint_path(path)
    if set_aside:
        for unfinished in path.parent.glob(f".{path.name}.*.tmp"):
            unfinished.unlink(missing_ok=True)
    if not path.exists() and not previous.exists():
        return None
    try:
        return load_checkpoint(path)
    except SupernasError as error:
        if not previous.exists():
            raise
        state = load_checkpoint(previous)
        if set_aside and path.exists():
            with reported_write_errors(path):
                os.replace(path, path.with_name(path.name + ".rejected"))
        warnings.warn(f"{error}; resuming from the previous checkpoint {previous} (step {state.get('step')})", stacklevel=2)
        return state


def flatten_config(values: dict, prefix: tuple = ()) -> dict[tuple, object]:
    """Nested dicts as {(key, subkey, ...): leaf}."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def changed_settings(config: dict, training_only: bool = False) -> dict[str, object]:
    """The entries of a config dict that differ from the defaults and change results, by dotted
    key (with ``training_only``, those that change training): what identifies a run's results,
    unchanged when supernas gains options at their defaults."""
    current, defaults = flatten_config(config), flatten_config(to_dict(Config()))
    return {".".join(key): value for key, value in sorted(current.items(), key=str)
            if value != defaults.get(key, object()) and key not in RESULT_NEUTRAL_KEYS
            and not (training_only and key[0] in AFTER_TRAINING_SECTIONS)}


def _with_effective_clip(flat: dict[tuple, object]) -> dict[tuple, object]:
    """A flattened config with ``train.grad_clip`` replaced by the clip it trains with."""
    train = TrainConfig(strategy=flat.get(("train", "strategy"), TrainConfig.strategy), grad_clip=flat.get(("train", "grad_clip")))
    return {**flat, ("train", "grad_clip"): effective_grad_clip(train)}


def check_compatible(state: dict, space_description: dict, config: dict, path: str | Path) -> None:
    """Raise if a checkpoint was made for another space or a config that trains differently.

    An option the checkpoint's config does not have (added to supernas after it was written)
    counts as that option's default, so older run directories resume when it is left there.
    An option whose default depends on the strategy (``train.grad_clip``) is compared by the
    value it resolves to, which is what checkpoints record."""
    if state["space"] != space_description:
        differing = sorted(k for k in set(state["space"]) | set(space_description)
                           if state["space"].get(k) != space_description.get(k))
        saved_space = state["space"]
        details = ", ".join(f"{k}: {saved_space.get(k)!r} vs {space_description.get(k)!r}" for k in differing)
        raise SupernasError(f"checkpoint {path} is from a different search space ({details})")
    saved, current, defaults = flatten_config(state["config"]), flatten_config(config), flatten_config(to_dict(Config()))
    saved.update((key, defaults.get(key)) for key in set(current) - set(saved))
    saved, current = _with_effective_clip(saved), _with_effective_clip(current)
    differing = [key for key in sorted(set(saved) | set(current), key=str)
                 if key[0] not in AFTER_TRAINING_SECTIONS and key not in RESULT_NEUTRAL_KEYS and saved.get(key) != current.get(key)]
    if differing:
        details = ", ".join(f"{'.'.join(k)}: {saved.get(k)!r} vs {current.get(k)!r}" for k in differing[:4])
        raise SupernasError(f"checkpoint {path} was trained with a different config ({details}); use another run_dir or the same settings")
