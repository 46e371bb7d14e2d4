"""Training, calibration and scoring on 2 CPU processes (gloo) against one process.

One module-scoped launch of 2 processes (``torch.multiprocessing.spawn``) trains, calibrates
and scores; each test compares one of its results with the same computation in this process.
The runs use ``train.micro_batches 2``: 2 ranks x 1 micro-batch of 8 images, or 1 process x 2
micro-batches, so batch-statistics BN sees the same 8-image groups either way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from supernas.config import Config
from supernas.errors import SupernasError
from supernas.evaluate.calibration import calibrate_batchnorm
from supernas.evaluate.scoring import open_score_cache, sample_architectures, supernet_accuracy
from supernas.runs.checkpoint import load_checkpoint
from supernas.runs.distributed import DistributedContext, distributed_context, launch_variables, micro_batch_slices
from supernas.runs.experiment import build_space, checkpoint_path, load_splits
from supernas.spaces import get_space
from supernas.train import trainer

WORLD_SIZE = 2
STEPS = 4
SPACE_OPTIONS = {"channels": 4, "cells_per_stage": 1, "bn": "running"}
CALIBRATION_ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


class Crash(Exception):
    """Stops a training run at a given step, as a killed job would."""


def run_config(run_dir: Path) -> Config:
    """A 4-step NAS-Bench-201 run on synthetic data, batch 16 in 2 micro-batches, checkpoints every 2 steps."""
    config = Config()
    config.run_dir = str(run_dir)
    config.data.dataset, config.data.synthetic_size, config.data.batch_size = "synthetic", 256, 16
    config.data.device = "cpu"
    config.space.options = dict(SPACE_OPTIONS)
    config.train.steps, config.train.micro_batches, config.train.lr = STEPS, 2, 0.1
    config.train.log_every, config.train.checkpoint_every, config.train.progress = 2, 2, False
    config.rank.num_images, config.rank.batch_size, config.rank.calibration_images = 64, 16, 64
    return config


def train_recording(config: Config, context: DistributedContext | None = None, crash_at: int | None = None) -> dict[int, list[str]]:
    """Train ``config``; returns the architectures of every step (raises :class:`Crash` at ``crash_at``)."""
    seen: dict[int, list[str]] = {}
    real_make_sampler = trainer.make_sampler

    def recording_sampler(*args):
        sampler = real_make_sampler(*args)
        sample = sampler.sample

        def record(step):
            if step == crash_at:
                raise Crash
            archs = sample(step)
            seen.setdefault(step, [str(a) for a in archs])
            return archs

        sampler.sample = record
        return sampler

    trainer.make_sampler = recording_sampler
    try:
        trainer.train_supernet(config, context)
    finally:
        trainer.make_sampler = real_make_sampler
    return {step: seen[step] for step in range(STEPS) if step in seen}


def calibration_setup():
    """A running-statistics NB201 supernet (seeded), one architecture and 5 calibration batches."""
    space = get_space("nasbench201", **SPACE_OPTIONS)
    torch.manual_seed(3)
    model = space.build_supernet()
    generator = torch.Generator().manual_seed(4)
    batches = [torch.randn(6, 3, 32, 32, generator=generator) * (1 + i) for i in range(5)]
    return model, space.parse(CALIBRATION_ARCH), batches


def bn_statistics(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items() if "running" in name or "num_batches" in name}


def worker(rank: int, root: str) -> None:
    """One rank: train, train-and-crash, calibrate, score; results saved as ``rank<r>.pt``."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{root}/rendezvous", rank=rank, world_size=WORLD_SIZE)
    try:
        context = distributed_context("cpu")
        results = {"context": (context.rank, context.world_size)}
        results["archs"] = train_recording(run_config(Path(root) / "two_ranks"), context)
        try:
            train_recording(run_config(Path(root) / "interrupted"), context, crash_at=2)
        except Crash:
            results["crashed"] = True
        model, arch, batches = calibration_setup()
        results["calibrated_images"] = calibrate_batchnorm(model, context.shard(batches), lambda x: model(x, arch), context)
        results["statistics"] = bn_statistics(model)
        config = run_config(Path(root) / "two_ranks")
        splits = load_splits(config)
        space = build_space(config, splits[0])
        archs = sample_architectures(space, 6, seed=1)
        accuracy = supernet_accuracy(config, space, splits, context.device, open_score_cache(config, context), context)
        results["scores"] = accuracy(archs)
        again = supernet_accuracy(config, space, splits, context.device, open_score_cache(config, context), context)
        results["rescored"] = (again(archs), again.computed, again.reused)
        torch.save(results, Path(root) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The results of :func:`worker` on 2 gloo processes, and their directory."""
    root = tmp_path_factory.mktemp("distributed")
    mp.spawn(worker, args=(str(root),), nprocs=WORLD_SIZE, join=True)
    return root, [torch.load(root / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD_SIZE)]


def parameters(config: Config) -> dict[str, torch.Tensor]:
    """The trained parameters of a run's last checkpoint (running statistics left out: each rank
    keeps its own during training, and they are recomputed before any subnet is scored)."""
    state = load_checkpoint(checkpoint_path(config))
    assert state["step"] == STEPS
    return {name: value for name, value in state["model"].items() if "running" not in name and "num_batches" not in name}


def test_every_rank_trains_the_same_architectures_as_one_process(launched, tmp_path):
    _, results = launched
    assert [r["context"] for r in results] == [(0, 2), (1, 2)]
    assert results[0]["archs"] == results[1]["archs"]
    assert sorted(results[0]["archs"]) == list(range(STEPS))
    assert train_recording(run_config(tmp_path / "one")) == results[0]["archs"]
    assert len({a[0] for a in results[0]["archs"].values()}) == STEPS


def test_two_ranks_train_the_weights_of_one_process_on_the_concatenated_batches(launched, tmp_path):
    root, _ = launched
    distributed = parameters(run_config(root / "two_ranks"))
    single_config = run_config(tmp_path / "one")
    trainer.train_supernet(single_config)
    single = parameters(single_config)
    assert distributed.keys() == single.keys()
    for name, value in single.items():
        torch.testing.assert_close(distributed[name], value, rtol=1e-5, atol=1e-6, msg=name)
    torch.manual_seed(single_config.train.seed)
    initial = get_space("nasbench201", **SPACE_OPTIONS).build_supernet().state_dict()
    assert sum(not torch.equal(initial[name], value) for name, value in single.items()) > len(single) // 4
    log = [json.loads(line) for line in open(root / "two_ranks" / "log.jsonl")]
    single_log = [json.loads(line) for line in open(tmp_path / "one" / "log.jsonl")]
    assert [r["step"] for r in log] == [2, 4]
    for record, expected in zip(log, single_log):
        assert record["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert record["train_acc"] == pytest.approx(expected["train_acc"])


def test_two_rank_checkpoint_resumes_on_one_rank(launched, tmp_path):
    root, results = launched
    assert all(r["crashed"] for r in results)
    resumed_config = run_config(tmp_path / "resumed")
    shutil.copytree(root / "interrupted", resumed_config.run_dir)
    assert load_checkpoint(checkpoint_path(resumed_config))["step"] == 2
    result = trainer.train_supernet(resumed_config)
    assert result.resumed_from == 2
    uninterrupted = parameters(run_config(root / "two_ranks"))
    for name, value in parameters(resumed_config).items():
        torch.testing.assert_close(value, uninterrupted[name], rtol=1e-5, atol=1e-6, msg=name)


def test_distributed_calibration_equals_one_process_on_all_batches(launched):
    _, results = launched
    model, arch, batches = calibration_setup()
    assert calibrate_batchnorm(model, batches, lambda x: model(x, arch)) == 30
    expected = bn_statistics(model)
    assert any(int(v) == 5 for k, v in expected.items() if "num_batches" in k)
    for result in results:
        assert result["calibrated_images"] == 30
        assert result["statistics"].keys() == expected.keys()
        for name, value in expected.items():
            torch.testing.assert_close(result["statistics"][name], value, rtol=1e-5, atol=1e-6, msg=name)


def test_distributed_scores_equal_one_process_and_are_cached_once(launched, tmp_path):
    root, results = launched
    config = run_config(tmp_path / "scored")
    shutil.copytree(root / "two_ranks" / "checkpoints", tmp_path / "scored" / "checkpoints")
    splits = load_splits(config)
    space = build_space(config, splits[0])
    archs = sample_architectures(space, 6, seed=1)
    single = supernet_accuracy(config, space, splits, torch.device("cpu"), open_score_cache(config))(archs)
    one_image = 100 / config.rank.num_images
    for result in results:
        assert max(abs(a - b) for a, b in zip(result["scores"], single)) <= one_image + 1e-9
        assert result["rescored"] == (result["scores"], 0, len(archs))
    assert results[0]["scores"] == results[1]["scores"]
    assert len(set(single)) > 1


def test_micro_batches_split_the_global_batch_in_rank_order():
    two = [micro_batch_slices(16, 4, DistributedContext(rank, 2)) for rank in range(2)]
    assert two == [[slice(0, 4), slice(4, 8)], [slice(8, 12), slice(12, 16)]]
    assert micro_batch_slices(16, 0, DistributedContext(1, 2)) == [slice(8, 16)]
    assert micro_batch_slices(16, 0, DistributedContext()) == [slice(0, 16)]
    with pytest.raises(SupernasError, match="multiple of the number of processes"):
        micro_batch_slices(16, 3, DistributedContext(0, 2))
    with pytest.raises(SupernasError, match="must split into 3 equal micro-batches"):
        micro_batch_slices(16, 3, DistributedContext())


def test_single_process_without_launch_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launch_variables() is None
    context = distributed_context("cpu")
    assert (context.rank, context.world_size, context.is_main, context.device) == (0, 1, True, torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SupernasError, match="launch variables are incomplete"):
        distributed_context("cpu")


@pytest.mark.slow
def test_supernas_train_under_torchrun_writes_one_checkpoint(tmp_path):
    run_dir = tmp_path / "torchrun"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "supernas.cli", "train", "--run_dir", str(run_dir), "--data.dataset", "synthetic",
               "--data.synthetic_size", "256", "--data.batch_size", "16", "--data.device", "cpu",
               "--space.options.channels", "4", "--space.options.cells_per_stage", "1", "--train.steps", "4",
               "--train.log_every", "2", "--train.progress", "false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained 4 steps") == 1
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 4
    assert [json.loads(line)["step"] for line in open(run_dir / "log.jsonl")] == [2, 4]
