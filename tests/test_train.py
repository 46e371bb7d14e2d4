"""Training loop: exact resume, FairNAS fairness, untouched unused parameters, NaN handling."""

from __future__ import annotations

import json

import pytest
import torch

from supernas.errors import SupernasError
from supernas.runs.checkpoint import load_checkpoint
from supernas.runs.experiment import checkpoint_path
from supernas.spaces import get_space
from supernas.train import trainer
from supernas.train.samplers import FairSampler, UniformSampler


def _final_weights(config):
    return load_checkpoint(checkpoint_path(config))["model"]


def test_resumed_run_equals_uninterrupted_run_bit_for_bit(tiny_config, tmp_path, monkeypatch):
    trainer.train_supernet(tiny_config)
    uninterrupted = _final_weights(tiny_config)

    tiny_config.run_dir = str(tmp_path / "interrupted")
    real_make_sampler = trainer.make_sampler

    class Crash(Exception):
        pass

    def crashing_sampler(*args):
        sampler = real_make_sampler(*args)
        original = sampler.sample

        def sample(step):
            if step == 4:
                raise Crash
            return original(step)

        sampler.sample = sample
        return sampler

    monkeypatch.setattr(trainer, "make_sampler", crashing_sampler)
    with pytest.raises(Crash):
        trainer.train_supernet(tiny_config)
    assert load_checkpoint(checkpoint_path(tiny_config))["step"] == 3
    monkeypatch.setattr(trainer, "make_sampler", real_make_sampler)
    result = trainer.train_supernet(tiny_config)
    assert result.resumed_from == 3
    resumed = _final_weights(tiny_config)
    assert resumed.keys() == uninterrupted.keys()
    for name in uninterrupted:
        assert torch.equal(resumed[name], uninterrupted[name]), name


def test_fairnas_trains_every_op_of_every_edge_once_per_step():
    space = get_space("nasbench201")
    sampler = FairSampler(space, seed=0)
    for step in range(20):
        archs = sampler.sample(step)
        assert len(archs) == 5
        for edge in range(6):
            assert sorted(space.encode(a)[edge] for a in archs) == [0, 1, 2, 3, 4]
    assert sampler.sample(3) == sampler.sample(3)
    assert sampler.sample(3) != sampler.sample(4)


def test_fairnas_step_accumulates_all_gradients_before_one_update(tiny_config, monkeypatch):
    tiny_config.train.strategy = "fairnas"
    tiny_config.train.steps = 1
    tiny_config.train.grad_clip = 0
    steps = []
    real_step = torch.optim.SGD.step

    def counting_step(self, *args, **kwargs):
        steps.append(sum(p.grad is not None for g in self.param_groups for p in g["params"]))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", counting_step)
    trainer.train_supernet(tiny_config)
    assert len(steps) == 1
    assert steps[0] > 0


def test_uniform_sampler_is_a_function_of_seed_and_step():
    space = get_space("nasbench201")
    a, b = UniformSampler(space, 1), UniformSampler(space, 1)
    assert [a.sample(s) for s in range(10)] == [b.sample(s) for s in range(10)]
    assert len({str(a.sample(s)[0]) for s in range(50)}) > 40


def test_unused_parameters_are_not_touched_by_the_optimizer(tiny_config):
    tiny_config.train.steps = 1
    tiny_config.train.weight_decay = 5e-4
    space = get_space("nasbench201", channels=4, cells_per_stage=1)
    arch = UniformSampler(space, tiny_config.train.seed).sample(0)[0]
    torch.manual_seed(tiny_config.train.seed)
    initial = space.build_supernet().state_dict()
    trainer.train_supernet(tiny_config)
    final = _final_weights(tiny_config)
    for edge, op in enumerate(arch.ops):
        for other in ("nor_conv_1x1", "nor_conv_3x3"):
            key = f"cells.0.edges.{edge}.{other}.1.weight"
            if other != op:
                assert torch.equal(final[key], initial[key]), key


def test_log_records_every_log_interval(tiny_config):
    trainer.train_supernet(tiny_config)
    records = [json.loads(line) for line in open(f"{tiny_config.run_dir}/log.jsonl")]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert all(r["loss"] > 0 and r["images_per_second"] > 0 for r in records)


def test_nan_loss_stops_with_step_and_subnet_and_keeps_last_checkpoint(tiny_config, monkeypatch):
    trainer.train_supernet(tiny_config)
    good = _final_weights(tiny_config)
    tiny_config.run_dir = tiny_config.run_dir + "-nan"
    tiny_config.train.steps = 6
    real = trainer.F.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, labels):
        calls["n"] += 1
        loss = real(logits, labels)
        return loss * float("nan") if calls["n"] == 5 else loss

    monkeypatch.setattr(trainer.F, "cross_entropy", poisoned)
    with pytest.raises(SupernasError, match=r"non-finite at step 4 training \|"):
        trainer.train_supernet(tiny_config)
    assert load_checkpoint(checkpoint_path(tiny_config))["step"] == 3
    assert good


def test_checkpoint_without_a_newer_option_resumes_only_at_its_default():
    from supernas.config import Config, to_dict
    from supernas.runs.checkpoint import check_compatible

    space = {"name": "nasbench201"}
    current = to_dict(Config())
    older = to_dict(Config())
    del older["train"]["micro_batches"]
    check_compatible({"space": space, "config": older}, space, current, "last.pt")
    current["train"]["micro_batches"] = 4
    with pytest.raises(SupernasError, match="train.micro_batches: 0 vs 4"):
        check_compatible({"space": space, "config": older}, space, current, "last.pt")
