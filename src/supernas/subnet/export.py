"""Export: a searched architecture as a plain standalone ``nn.Module`` (``space.build_subnet``),
its weights inherited from the supernet by name, saved as ``subnet.pt`` and ``model.onnx``.

BatchNorm layers that normalise with batch statistics only (the NAS-Bench-201 supernet recipe)
make a model's outputs depend on the rest of its batch; when calibration images are given,
export gives such layers running statistics and computes them, with every other BN's, on those
images, so the exported model is an ordinary eval-mode network.
"""

from __future__ import annotations

import importlib.util
import inspect
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from supernas.config import Config
from supernas.errors import SupernasError
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.evaluate.scoring import calibration_batches
from supernas.runs.experiment import build_space, checkpoint_path, load_splits, load_trained_supernet
from supernas.runs.files import ARCH_FILE, ONNX_FILE, SUBNET_FILE, export_dir
from supernas.spaces import get_space
from supernas.spaces.base import Architecture, Space
from supernas.subnet.choice import chosen_architecture
from supernas.utils import atomic_write_bytes, atomic_write_text, resolve_device

SUBNET_FORMAT = "supernas-subnet-v1"


def supernet_name(subnet_name: str, supernet_state: dict) -> str | None:
    """The supernet entry a subnet entry inherits: the same name, or the name below the subnet's
    wrapper module (``network.`` of ``FixedArchitecture``); None when there is none."""
    for name in (subnet_name, subnet_name.partition(".")[2]):
        if name in supernet_state:
            return name
    return None


def inherit_weights(subnet: nn.Module, supernet_state: dict) -> None:
    """Load every parameter and buffer of ``subnet`` from the supernet's state dict by name."""
    inherited = {}
    for name, tensor in subnet.state_dict().items():
        source = supernet_name(name, supernet_state)
        if source is None:
            raise SupernasError(f"the supernet has no weights for the subnet's {name!r}")
        if supernet_state[source].shape != tensor.shape:
            raise SupernasError(f"supernet weights {source!r} have shape {tuple(supernet_state[source].shape)}, "
                                f"the subnet's {name!r} needs {tuple(tensor.shape)}")
        inherited[name] = supernet_state[source]
    subnet.load_state_dict(inherited)


def freeze_batch_statistics(model: nn.Module) -> int:
    """Give BN layers that use batch statistics only running-statistics buffers (to be
    calibrated); returns how many layers changed."""
    device = next(model.parameters(), torch.empty(0)).device
    changed = 0
    for norm in model.modules():
        if isinstance(norm, nn.modules.batchnorm._BatchNorm) and not norm.track_running_stats:
            norm.track_running_stats = True
            norm.register_buffer("running_mean", torch.zeros(norm.num_features, device=device))
            norm.register_buffer("running_var", torch.ones(norm.num_features, device=device))
            norm.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
            changed += 1
    return changed


def export_subnet(space: Space, arch: Architecture, supernet_state: dict | None = None,
                  calibration: list[torch.Tensor] | None = None) -> nn.Module:
    """The standalone network of ``arch`` in eval mode: weights inherited from ``supernet_state``
    when given, and every BN's statistics computed on the ``calibration`` batches when given
    (layers using batch statistics are frozen to running statistics first)."""
    subnet = space.build_subnet(arch)
    if supernet_state is not None:
        inherit_weights(subnet, supernet_state)
    if calibration:
        subnet.to(calibration[0].device)
        freeze_batch_statistics(subnet)
        calibrate_batchnorm(subnet, calibration)
    return subnet.eval()


def save_subnet(path: str | Path, model: nn.Module, space: Space, arch: Architecture) -> None:
    """Write the standalone model's weights with its space and architecture (atomically)."""
    frozen = any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in model.modules())
    buffer = io.BytesIO()
    torch.save({"format": SUBNET_FORMAT, "space": space.describe(), "arch": str(arch), "running_statistics": frozen,
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_subnet(path: str | Path) -> nn.Module:
    """A standalone model written by :func:`save_subnet`, in eval mode on the CPU."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise SupernasError(f"cannot read exported model {path}: {str(error).splitlines()[0][:120]}") from None
    if not isinstance(saved, dict) or saved.get("format") != SUBNET_FORMAT:
        raise SupernasError(f"{path} is not a model written by 'supernas export'")
    options = {k: v for k, v in saved["space"].items() if k != "name"}
    space = get_space(saved["space"]["name"], **options)
    model = space.build_subnet(space.parse(saved["arch"]))
    if saved["running_statistics"]:
        freeze_batch_statistics(model)
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def torchscript_onnx_export(model: nn.Module, path: str | Path, example: torch.Tensor) -> None:
    """The TorchScript-based ``torch.onnx.export`` (``dynamo=False`` where torch has the option),
    batch size dynamic, warnings silenced."""
    options = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), str(path), input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, **options)


def dynamo_onnx_export(model: nn.Module, path: str | Path, example: torch.Tensor) -> None:
    """The ``torch.export``-based ``torch.onnx.export`` (needs onnxscript), batch size dynamic,
    its warnings and log messages silenced. Its graph optimiser stays off: on MixPath S1 (12
    layers of fused paths) it left a dangling ``Pad`` input that onnxruntime refused."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (example,), str(path), dynamo=True, optimize=False, verbose=False,
                              input_names=["images"], output_names=["logits"],
                              dynamic_shapes=({0: torch.export.Dim("batch")},))
    finally:
        exporter_log.setLevel(level)


def has_dynamo_exporter() -> bool:
    """Whether torch has the ``torch.export``-based ONNX exporter and onnxscript is installed."""
    return ("dynamo" in inspect.signature(torch.onnx.export).parameters
            and importlib.util.find_spec("onnxscript") is not None)


def export_onnx(model: nn.Module, path: str | Path, example: torch.Tensor) -> str:
    """Write ``model`` as ONNX with a dynamic batch size; returns the exporter that did it.

    ``dynamo`` (``torch.export``-based, torch's default since 2.9) when available; else the
    TorchScript-based ``torchscript``, which refuses convolutions whose kernels are computed at
    run time (the box-filter average pool, MixPath's fused depthwise paths).
    """
    if has_dynamo_exporter():
        dynamo_onnx_export(model, path, example)
        return "dynamo"
    torchscript_onnx_export(model, path, example)
    return "torchscript"


def onnx_max_difference(path: str | Path, model: nn.Module, example: torch.Tensor) -> float | None:
    """Largest absolute difference between onnxruntime's and torch's outputs on ``example``
    (None when onnxruntime is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ours = session.run(None, {"images": example.cpu().numpy()})[0]
    with torch.no_grad():
        theirs = model(example).cpu().numpy()
    return float(abs(ours - theirs).max())


@dataclass(frozen=True)
class ExportResult:
    """What ``supernas export`` wrote."""

    arch: str
    out_dir: str
    inherited: bool
    onnx: str


def write_onnx(model: nn.Module, out_dir: Path, example: torch.Tensor) -> str:
    """Export ``model.onnx`` into ``out_dir`` and check it with onnxruntime; a note of what happened."""
    path = out_dir / ONNX_FILE
    try:
        exporter = export_onnx(model, path, example)
    except (ImportError, RuntimeError) as error:
        return f"not written ({str(error).splitlines()[0][:160]})"
    try:
        difference = onnx_max_difference(path, model, torch.cat([example, example]))
    except Exception as error:  # onnxruntime raises its own exception types for models it refuses
        return f"{path} ({exporter} exporter; onnxruntime refused it: {str(error).splitlines()[0][:160]})"
    check = "onnxruntime not installed" if difference is None else f"onnxruntime max |diff| {difference:.2e}"
    return f"{path} ({exporter} exporter; {check})"


def export_run(config: Config) -> ExportResult:
    """Export the run's chosen architecture (``export.arch`` or the search's most accurate):
    with supernet weights and calibrated BN when the run has a trained supernet, untrained otherwise."""
    device = resolve_device(config.data.device)
    train_split, _ = load_splits(config)
    space = build_space(config, train_split)
    arch = chosen_architecture(config, space)
    inherited = checkpoint_path(config).exists()
    state = load_trained_supernet(config, space, device).state_dict() if inherited else None
    calibration = calibration_batches(train_split, config, device) if inherited else None
    model = export_subnet(space, arch, state, calibration).cpu()
    out_dir = export_dir(config.run_dir)
    save_subnet(out_dir / SUBNET_FILE, model, space, arch)
    atomic_write_text(out_dir / ARCH_FILE, f"{arch}\n")
    example = torch.zeros(2, train_split.in_channels, train_split.image_size, train_split.image_size)
    onnx_note = write_onnx(model, out_dir, example) if config.export.onnx else "not asked for"
    return ExportResult(str(arch), str(out_dir), inherited, onnx_note)
