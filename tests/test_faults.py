"""Faults during training: SIGKILL at random points, truncated or corrupted checkpoints, a full
disk or read-only run directory, non-finite losses. After each, nothing that was saved is lost:
resuming ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from supernas import cli
from supernas.config import to_dict
from supernas.errors import SupernasError
from supernas.runs import checkpoint as checkpoint_module
from supernas.runs.checkpoint import load_checkpoint, load_resumable_checkpoint, previous_checkpoint_path
from supernas.runs.experiment import checkpoint_path
from supernas.train import trainer
from supernas.utils import atomic_write_bytes

KILLS = 5
KILL_SEED = 8


def assert_same_weights(first: dict, second: dict) -> None:
    """Bit-identical state dicts."""
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def run_files(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory and its bytes."""
    return {str(path.relative_to(run_dir)): path.read_bytes() for path in sorted(run_dir.rglob("*")) if path.is_file()}


def train_command(config_file: Path) -> list[str]:
    """``supernas train`` on one thread (the same arithmetic in every process)."""
    return [sys.executable, "-c", "import sys, torch; torch.set_num_threads(1); from supernas.cli import main; "
            "sys.exit(main(sys.argv[1:]))", "train", "--config", str(config_file)]


def logged_steps(run_dir: Path) -> list[int]:
    """Steps recorded in ``log.jsonl`` so far (a killed run may leave a partial last line)."""
    path = run_dir / "log.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError):
            pass
    return steps


def kill_after_step(command: list[str], run_dir: Path, target: int, delay: float, env: dict) -> int:
    """Start training, SIGKILL it ``delay`` seconds after it logs step ``target`` (somewhere in the
    next step or checkpoint write); the last step it logged."""
    before = len(logged_steps(run_dir))
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while max(logged_steps(run_dir)[before:], default=0) < target:
        assert process.poll() is None, f"training ended before step {target}: {process.stderr.read().decode()}"
        assert time.monotonic() < deadline, f"no step {target} within 120 s"
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return max(logged_steps(run_dir)[before:])


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tiny_config, tmp_path):
    tiny_config.train.steps = 40
    tiny_config.train.log_every = 1
    tiny_config.train.checkpoint_every = 2
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    configs = {}
    for name in ("uninterrupted", "killed"):
        tiny_config.run_dir = str(tmp_path / name)
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(to_dict(tiny_config)))
    subprocess.run(train_command(configs["uninterrupted"]), env=env, check=True, capture_output=True)

    rng = random.Random(KILL_SEED)
    killed_dir = tmp_path / "killed"
    kill_points = []
    for target in sorted(rng.sample(range(1, tiny_config.train.steps - 1), KILLS)):
        step = kill_after_step(train_command(configs["killed"]), killed_dir, target, rng.uniform(0.0, 0.03), env)
        state = load_resumable_checkpoint(killed_dir / "checkpoints/last.pt", set_aside=False)
        assert state is None and step < 2 or state["step"] <= step
        kill_points.append(step)
    done = subprocess.run(train_command(configs["killed"]), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    print(f"SIGKILL after logged steps {kill_points} of {tiny_config.train.steps}; resumed to the end")
    assert sorted(path.name for path in (killed_dir / "checkpoints").iterdir()) == ["last.pt", "prev.pt"]
    assert_same_weights(load_checkpoint(killed_dir / "checkpoints/last.pt")["model"],
                        load_checkpoint(tmp_path / "uninterrupted/checkpoints/last.pt")["model"])


def corrupt(path: Path, how: str) -> None:
    """Damage a checkpoint file in one of the ways disks and interrupted copies do."""
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[:len(data) // 2]))
    elif how == "bit flip":
        data[len(data) // 2] ^= 0x10
        path.write_bytes(bytes(data))
    elif how == "zeroed block":
        data[len(data) // 3:len(data) // 3 + 4096] = bytes(4096)
        path.write_bytes(bytes(data))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


@pytest.fixture
def finished_run(tiny_config):
    """A finished 6-step run (checkpoints at steps 2, 4, 6) and its final weights."""
    tiny_config.train.checkpoint_every = 2
    trainer.train_supernet(tiny_config)
    return tiny_config, load_checkpoint(checkpoint_path(tiny_config))["model"]


@pytest.mark.parametrize("how", ["truncated", "bit flip", "zeroed block", "empty", "missing"])
def test_a_damaged_checkpoint_is_rejected_and_the_previous_one_is_used(finished_run, how):
    config, final = finished_run
    last = checkpoint_path(config)
    assert load_checkpoint(previous_checkpoint_path(last))["step"] == 4
    corrupt(last, how)
    if how != "missing":
        with pytest.raises(SupernasError, match="truncated or corrupted|is corrupted") as raised:
            load_checkpoint(last)
        assert "\n" not in str(raised.value)
    with pytest.warns(UserWarning, match=r"resuming from the previous checkpoint .*prev\.pt \(step 4\)"):
        result = trainer.train_supernet(config)
    assert result.resumed_from == 4
    assert_same_weights(load_checkpoint(last)["model"], final)
    assert load_checkpoint(previous_checkpoint_path(last))["step"] == 4


def test_both_checkpoints_damaged_is_one_clear_error(finished_run):
    config, _ = finished_run
    last = checkpoint_path(config)
    corrupt(last, "bit flip")
    corrupt(previous_checkpoint_path(last), "truncated")
    with pytest.raises(SupernasError, match="prev.pt is truncated or corrupted") as raised:
        trainer.train_supernet(config)
    assert "\n" not in str(raised.value)


def crash_at_step(monkeypatch, step: int) -> None:
    """Make the trainer's sampler raise when asked for ``step`` (a crash mid-run)."""
    real = trainer.make_sampler

    def crashing(*args):
        sampler = real(*args)
        original = sampler.sample

        def sample(asked: int):
            if asked == step:
                raise RuntimeError(f"crash at step {step}")
            return original(asked)

        sampler.sample = sample
        return sampler

    monkeypatch.setattr(trainer, "make_sampler", crashing)


def test_a_full_disk_fails_cleanly_and_keeps_the_saved_checkpoints(tiny_config, monkeypatch):
    tiny_config.train.checkpoint_every = 2
    trainer.train_supernet(tiny_config)
    final = load_checkpoint(checkpoint_path(tiny_config))["model"]
    tiny_config.run_dir += "-full"
    run_dir = Path(tiny_config.run_dir)
    writes, saved = [], {}

    def disk_full_on_third_checkpoint(path, data, previous=None):
        writes.append(path)
        if len(writes) < 3:
            return atomic_write_bytes(path, data, previous)
        saved.update(run_files(run_dir))

        def no_space(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        with monkeypatch.context() as patch:
            patch.setattr(os, "fsync", no_space)
            atomic_write_bytes(path, data, previous)

    monkeypatch.setattr(checkpoint_module, "atomic_write_bytes", disk_full_on_third_checkpoint)
    with pytest.raises(SupernasError) as raised:
        trainer.train_supernet(tiny_config)
    message = str(raised.value)
    assert "No space left on device" in message and "last.pt" in message and "\n" not in message
    assert run_files(run_dir) == saved
    assert load_checkpoint(checkpoint_path(tiny_config))["step"] == 4
    monkeypatch.setattr(checkpoint_module, "atomic_write_bytes", atomic_write_bytes)
    assert trainer.train_supernet(tiny_config).resumed_from == 4
    assert_same_weights(load_checkpoint(checkpoint_path(tiny_config))["model"], final)


def test_a_read_only_run_directory_fails_in_one_line_and_changes_nothing(tiny_config, monkeypatch, capsys):
    crash_at_step(monkeypatch, 5)
    with pytest.raises(RuntimeError):
        trainer.train_supernet(tiny_config)
    run_dir = Path(tiny_config.run_dir)
    before = run_files(run_dir)
    assert load_checkpoint(checkpoint_path(tiny_config))["step"] == 3

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("supernas.utils.tempfile.mkstemp", read_only)
    config_file = run_dir.parent / "config.yaml"
    config_file.write_text(yaml.safe_dump(to_dict(tiny_config)))
    assert cli.main(["train", "--config", str(config_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supernas: error: cannot write ") and "Read-only file system" in err and err.count("\n") == 1, err
    assert run_files(run_dir) == before


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_naming_step_and_subnet_and_keeps_the_checkpoints(tiny_config, monkeypatch, poison):
    tiny_config.train.steps = 8
    tiny_config.train.checkpoint_every = 2
    real = trainer.F.cross_entropy
    calls = {"n": 0}
    archs = {}
    sampler_real = trainer.make_sampler

    def recording_sampler(*args):
        sampler = sampler_real(*args)
        original = sampler.sample

        def sample(step):
            archs[step] = original(step)
            return archs[step]

        sampler.sample = sample
        return sampler

    def poisoned(logits, labels):
        calls["n"] += 1
        loss = real(logits, labels)
        return loss * poison if calls["n"] == 6 else loss

    monkeypatch.setattr(trainer, "make_sampler", recording_sampler)
    monkeypatch.setattr(trainer.F, "cross_entropy", poisoned)
    run_dir = Path(tiny_config.run_dir)
    saved = {}
    real_save = trainer.save_checkpoint

    def save_and_snapshot(path, state):
        real_save(path, state)
        saved.clear()
        saved.update({name: data for name, data in run_files(run_dir).items() if name.startswith("checkpoints")})

    monkeypatch.setattr(trainer, "save_checkpoint", save_and_snapshot)
    with pytest.raises(SupernasError) as raised:
        trainer.train_supernet(tiny_config)
    message = str(raised.value)
    assert "non-finite at step 5" in message and str(archs[5][0]) in message and "\n" not in message
    assert {name: data for name, data in run_files(run_dir).items() if name.startswith("checkpoints")} == saved
    assert load_checkpoint(checkpoint_path(tiny_config))["step"] == 4
    assert load_checkpoint(previous_checkpoint_path(checkpoint_path(tiny_config)))["step"] == 2


def test_the_cli_reports_the_fallback_to_the_previous_checkpoint_in_one_line(finished_run, tmp_path):
    config, _ = finished_run
    corrupt(checkpoint_path(config), "bit flip")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(to_dict(config)))
    done = subprocess.run([sys.executable, "-m", "supernas.cli", "train", "--config", str(config_file)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and warning[0].startswith("supernas: warning: checkpoint "), done.stderr
    assert "resuming from the previous checkpoint" in warning[0] and "prev.pt (step 4)" in warning[0]
