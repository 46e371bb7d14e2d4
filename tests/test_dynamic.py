"""Dynamic supernet training: CaLR, momentum separation, FairNAS with shared group genes,
few-shot sub-supernets, and exact resume with all of them on; FairNAS without gradient clipping
and few-shot sub-supernets that inherit a one-shot supernet's weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from supernas.config import Config, TrainConfig, effective_grad_clip, to_dict
from supernas.errors import SupernasError
from supernas.nn.fewshot import FewShotSupernet, InheritingFewShotSupernet
from supernas.nn.nasbench201 import OPS
from supernas.runs import checkpoint as checkpoint_module
from supernas.runs.checkpoint import check_compatible, load_checkpoint
from supernas.runs.experiment import load_trained_supernet
from supernas.runs.experiment import build_space, build_supernet, checkpoint_path, load_splits
from supernas.spaces import get_space
from supernas.spaces.nasbench201 import NasBench201Arch
from supernas.train import policy as policy_module
from supernas.train import trainer
from supernas.train.policy import MomentumGroups, OptimisationPolicy, make_optimizer
from supernas.train.samplers import FairSampler, make_sampler

SMALLEST = NasBench201Arch(("none",) * 6)
LARGEST = NasBench201Arch(("nor_conv_3x3",) * 6)


def tiny_space(**options):
    return get_space("nasbench201", channels=4, cells_per_stage=1, image_size=8, **options)


def train_config(**changes) -> TrainConfig:
    config = TrainConfig()
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def policy_for(config: TrainConfig, total_steps: int = 100, space=None) -> OptimisationPolicy:
    space = space or get_space("nasbench201")
    optimizer = make_optimizer([torch.nn.Parameter(torch.zeros(3))], config)
    return OptimisationPolicy(optimizer, config, space, total_steps)


def backward(model, arch, seed: int) -> None:
    """Accumulate the gradient of ``arch``'s loss on a seeded random batch."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(8, 3, 8, 8, generator=generator)
    labels = torch.randint(10, (8,), generator=generator)
    F.cross_entropy(model(images, arch), labels).backward()


def snapshot(groups: MomentumGroups) -> list[dict]:
    return [{id(p): state["momentum_buffer"].clone() for p, state in store.items()} for store in groups.stores]


# -- CaLR --------------------------------------------------------------------------------
def test_decay_exponent_spans_gamma_max_to_its_inverse_over_the_space():
    policy = policy_for(train_config(calr=True))
    gamma = lambda arch: policy_module.decay_exponent(policy.space.complexity(arch), policy.complexity_range, 4.0)
    assert gamma(SMALLEST) == 4.0
    assert gamma(LARGEST) == 0.25
    middle = NasBench201Arch(("nor_conv_3x3", "none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "none"))
    assert 0.25 < gamma(middle) < 4.0
    low, high = policy.complexity_range
    assert policy_module.decay_exponent(low / 2, (low, high), 4.0) == 4.0
    assert policy_module.decay_exponent(high * 2, (low, high), 4.0) == 0.25


@pytest.mark.parametrize("lr_min", [0.0, 0.005])
def test_calr_learning_rate_at_half_time_matches_the_formula(lr_min):
    policy = policy_for(train_config(calr=True, lr=0.025, lr_min=lr_min), total_steps=100)
    floor = lr_min / 0.025
    for arch, gamma in ((SMALLEST, 4.0), (LARGEST, 0.25)):
        expected = 0.025 * ((1 - floor) * 0.5 ** gamma + floor)
        assert policy.learning_rate(50, [arch]) == pytest.approx(expected, rel=1e-12)
        assert policy.learning_rate(0, [arch]) == pytest.approx(0.025, rel=1e-12)
        assert policy.loss_weights(50, [arch]) == [1.0]
    assert policy.learning_rate(50, [SMALLEST]) < policy.learning_rate(50, [LARGEST])


def test_calr_with_several_archs_per_step_weights_losses_at_constant_lr():
    policy = policy_for(train_config(calr=True, lr=0.025), total_steps=100)
    assert policy.learning_rate(50, [SMALLEST, LARGEST]) == 0.025
    assert policy.loss_weights(50, [SMALLEST, LARGEST]) == pytest.approx([0.5 ** 4, 0.5 ** 0.25], rel=1e-12)


def test_without_calr_the_schedule_and_unit_weights_apply():
    policy = policy_for(train_config(lr=0.1), total_steps=100)
    assert policy.learning_rate(50, [SMALLEST]) == pytest.approx(0.05)
    assert policy.loss_weights(50, [SMALLEST, LARGEST]) == [1.0, 1.0]


def test_calr_flops_measure_and_bad_settings():
    policy = policy_for(train_config(calr=True, calr_measure="flops"))
    assert policy.learning_rate(50, [SMALLEST]) == pytest.approx(0.025 * 0.5 ** 4)
    with pytest.raises(SupernasError, match="measure"):
        policy_for(train_config(calr=True, calr_measure="latency"))
    with pytest.raises(SupernasError, match="calr_gamma_max"):
        policy_for(train_config(calr=True, calr_gamma_max=0.0))


# -- momentum separation -----------------------------------------------------------------
def test_a_step_of_one_group_leaves_every_other_group_bit_identical():
    space = tiny_space(split_edge=2)
    torch.manual_seed(0)
    model = space.build_supernet()
    policy = OptimisationPolicy(make_optimizer(model.parameters(), train_config(ms=True)), train_config(ms=True), space, 10)
    archs = [space.decode([op, 3, op, 3, 2, 1]) for op in range(len(OPS))]
    for step, arch in enumerate(archs):
        model.zero_grad(set_to_none=True)
        backward(model, arch, step)
        policy.step(step, [arch])
    before = snapshot(policy.momentum)
    arch = space.decode([1, 3, 2, 3, 4, 0])  # group 2 (nor_conv_1x1 on edge 2); edge 0 and 5 change which params train
    model.zero_grad(set_to_none=True)
    backward(model, arch, 99)
    untrained = {id(p) for p in model.parameters() if p.grad is None}
    policy.step(5, [arch])
    after = snapshot(policy.momentum)
    assert untrained
    for group in range(len(OPS)):
        for key, buffer in before[group].items():
            changed = group == 2 and key not in untrained
            assert torch.equal(after[group][key], buffer) != changed, (group, key)
    assert not policy.optimizer.state, "between steps the optimizer holds no group's buffers"


@pytest.mark.parametrize("nesterov", [False, True])
def test_one_momentum_group_equals_plain_sgd_bit_for_bit(nesterov):
    space = tiny_space()
    config = train_config(nesterov=nesterov, weight_decay=5e-4)
    torch.manual_seed(0)
    plain_model = space.build_supernet()
    grouped_model = space.build_supernet()
    grouped_model.load_state_dict(plain_model.state_dict())
    plain = make_optimizer(plain_model.parameters(), config)
    grouped_optimizer = make_optimizer(grouped_model.parameters(), config)
    grouped = MomentumGroups(grouped_optimizer, 1)
    for step in range(5):
        arch = space.sample(torch.Generator().manual_seed(step))
        for model in (plain_model, grouped_model):
            model.zero_grad(set_to_none=True)
            backward(model, arch, step)
        plain.step()
        grouped.step(0)
    for (name, p), q in zip(plain_model.named_parameters(), grouped_model.parameters()):
        assert torch.equal(p, q), name
        if p in plain.state:
            assert torch.equal(plain.state[p]["momentum_buffer"], grouped.stores[0][q]["momentum_buffer"]), name


def test_fairnas_with_shared_genes_keeps_each_step_in_one_group():
    space = get_space("nasbench201", split_edge=3)
    sampler = make_sampler("fairnas", space, 0, space.group_genes("split_edge"))
    shared = set()
    for step in range(20):
        archs = sampler.sample(step)
        assert len({space.group(a, "split_edge") for a in archs}) == 1
        shared.add(space.group(archs[0], "split_edge"))
        for edge in (0, 1, 2, 4, 5):
            assert sorted(space.encode(a)[edge] for a in archs) == [0, 1, 2, 3, 4]
    assert len(shared) > 1
    assert FairSampler(space, 0).sample(7) == make_sampler("fairnas", space, 0).sample(7)


def test_a_step_spanning_groups_and_bad_ms_settings_are_user_errors():
    policy = policy_for(train_config(ms=True))
    with pytest.raises(SupernasError, match="one group"):
        policy.momentum_group([SMALLEST, NasBench201Arch(("skip_connect",) * 6)])
    with pytest.raises(SupernasError, match="unknown grouping"):
        policy_for(train_config(ms=True, ms_grouping="cells"))
    with pytest.raises(SupernasError, match="momentum"):
        policy_for(train_config(ms=True, momentum=0.0))


# -- few-shot NAS ------------------------------------------------------------------------
def fewshot_config(**changes) -> Config:
    config = Config()
    config.train.strategy = "fewshot"
    for key, value in changes.items():
        setattr(config.train, key, value)
    return config


def test_fewshot_routes_each_arch_to_its_sub_supernet_and_only_that_one_trains():
    space = tiny_space()
    model = build_supernet(fewshot_config(), space)
    assert isinstance(model, FewShotSupernet) and len(model.parts) == len(OPS)
    for op in range(len(OPS)):
        model.zero_grad(set_to_none=True)
        arch = space.decode([op, 3, 3, 2, 3, 3])
        backward(model, arch, op)
        for index, part in enumerate(model.parts):
            assert any(p.grad is not None for p in part.parameters()) == (index == op), (op, index)


def test_fewshot_momentum_separation_must_split_on_another_edge():
    with pytest.raises(SupernasError, match="other genes"):
        build_supernet(fewshot_config(ms=True), tiny_space(split_edge=0))
    assert isinstance(build_supernet(fewshot_config(ms=True), tiny_space(split_edge=4)), FewShotSupernet)


def test_fewshot_run_trains_and_loads_for_scoring(tiny_config):
    tiny_config.train.strategy = "fewshot"
    tiny_config.train.ms = True
    tiny_config.space.options["split_edge"] = 3
    trainer.train_supernet(tiny_config)
    space = build_space(tiny_config, load_splits(tiny_config)[0])
    model = load_trained_supernet(tiny_config, space, torch.device("cpu"))
    assert isinstance(model, FewShotSupernet)
    assert model(torch.zeros(2, 3, 8, 8), SMALLEST).shape[0] == 2


# -- exact resume ------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["spos", "fairnas"])
def test_interrupted_run_with_calr_and_ms_equals_uninterrupted_run_bit_for_bit(tiny_config, tmp_path, monkeypatch, strategy):
    tiny_config.train.strategy = strategy
    tiny_config.train.calr = True
    tiny_config.train.ms = True
    trainer.train_supernet(tiny_config)
    uninterrupted = load_checkpoint(checkpoint_path(tiny_config))
    groups = uninterrupted["policy"]["momentum_groups"]
    assert len(groups) == len(OPS) and sum(bool(g) for g in groups) >= 2

    class Crash(Exception):
        pass

    real_step = OptimisationPolicy.step

    def crashing_step(self, step, archs):
        if step == 4:
            raise Crash
        real_step(self, step, archs)

    tiny_config.run_dir = str(tmp_path / "interrupted")
    monkeypatch.setattr(OptimisationPolicy, "step", crashing_step)
    with pytest.raises(Crash):
        trainer.train_supernet(tiny_config)
    assert load_checkpoint(checkpoint_path(tiny_config))["step"] == 3
    monkeypatch.setattr(OptimisationPolicy, "step", real_step)
    assert trainer.train_supernet(tiny_config).resumed_from == 3
    resumed = load_checkpoint(checkpoint_path(tiny_config))
    for name, weight in uninterrupted["model"].items():
        assert torch.equal(resumed["model"][name], weight), name
    for saved, restored in zip(groups, resumed["policy"]["momentum_groups"]):
        assert saved.keys() == restored.keys()
        for index in saved:
            assert torch.equal(saved[index]["momentum_buffer"], restored[index]["momentum_buffer"]), index


# -- fidelity to the papers: FairNAS without clipping, few-shot with weight inheritance -------
def saved_states(monkeypatch) -> dict[int, dict]:
    """Every checkpoint a training writes, by step (copies, so later steps cannot change them)."""
    states: dict[int, dict] = {}
    real_save = checkpoint_module.save_checkpoint

    def recording_save(path, state):
        states[state["step"]] = {"model": {k: v.clone() for k, v in state["model"].items()
                                           if torch.is_tensor(v)}, "policy": state["policy"]}
        real_save(path, state)

    monkeypatch.setattr(trainer, "save_checkpoint", recording_save)
    return states


def logged(config: Config, key: str) -> list[float]:
    lines = (Path(config.run_dir) / "log.jsonl").read_text().splitlines()
    return [json.loads(line)[key] for line in lines]


def test_fairnas_does_not_clip_by_default_and_spos_clips_at_5(tiny_config):
    tiny_config.train.strategy = "fairnas"
    trainer.train_supernet(tiny_config)
    assert load_checkpoint(checkpoint_path(tiny_config))["config"]["train"]["grad_clip"] == 0.0
    assert "grad_clip: 0.0" in (Path(tiny_config.run_dir) / "config.yaml").read_text()
    assert effective_grad_clip(TrainConfig(strategy="spos")) == 5.0
    assert effective_grad_clip(TrainConfig(strategy="fairnas", grad_clip=2.5)) == 2.5


def test_fairnas_with_and_without_clipping_differ_exactly_from_the_first_step_above_the_clip(tiny_config, tmp_path, monkeypatch):
    tiny_config.train.strategy = "fairnas"
    tiny_config.train.log_every, tiny_config.train.checkpoint_every = 1, 1
    unclipped = saved_states(monkeypatch)
    trainer.train_supernet(tiny_config)
    norms = logged(tiny_config, "grad_norm")
    first_above = next(j for j in range(1, len(norms)) if norms[j] > max(norms[:j]))
    clip = (max(norms[:first_above]) + norms[first_above]) / 2

    tiny_config.run_dir, tiny_config.train.grad_clip = str(tmp_path / "clipped"), clip
    clipped = saved_states(monkeypatch)
    trainer.train_supernet(tiny_config)
    assert logged(tiny_config, "grad_norm")[:first_above + 1] == norms[:first_above + 1]
    for step in range(1, len(norms) + 1):  # the state after `step` steps
        same = all(torch.equal(clipped[step]["model"][name], weight) for name, weight in unclipped[step]["model"].items())
        assert same == (step <= first_above), (step, first_above, norms, clip)


def test_old_fairnas_run_clipped_at_5_resumes_only_when_asked_to_clip():
    space = {"name": "nasbench201"}
    saved = to_dict(Config())
    saved["train"].update(strategy="fairnas", grad_clip=5.0)
    current = to_dict(Config())
    current["train"]["strategy"] = "fairnas"
    with pytest.raises(SupernasError, match="train.grad_clip: 5.0 vs 0.0"):
        check_compatible({"space": space, "config": saved}, space, current, "last.pt")
    current["train"]["grad_clip"] = 5.0
    check_compatible({"space": space, "config": saved}, space, current, "last.pt")
    saved["train"]["strategy"] = current["train"]["strategy"] = "spos"
    current["train"]["grad_clip"] = None  # an SPOS run's unset clip is the 5 it recorded
    check_compatible({"space": space, "config": saved}, space, current, "last.pt")


def test_inheriting_fewshot_runs_one_supernet_then_splits_into_exact_copies():
    space = tiny_space()
    model = build_supernet(fewshot_config(fewshot_split_fraction=0.5), space)
    assert isinstance(model, InheritingFewShotSupernet) and len(model.parts) == len(OPS)
    archs = [space.decode([op, 3, 3, 2, 3, 3]) for op in range(len(OPS))]
    for arch in archs:
        model.zero_grad(set_to_none=True)
        backward(model, arch, 0)
        assert [any(p.grad is not None for p in part.parameters()) for part in model.parts] == [True] + [False] * (len(OPS) - 1)
    pairs = model.split()
    assert len(pairs) == (len(OPS) - 1) * len(list(model.parts[0].parameters()))
    first = model.parts[0].state_dict()
    for part in model.parts[1:]:
        assert all(torch.equal(value, first[name]) for name, value in part.state_dict().items())
    restored = build_supernet(fewshot_config(fewshot_split_fraction=0.5), space)
    restored.load_state_dict(model.state_dict())
    assert restored.is_split and [restored.part_of(arch) for arch in archs] == list(range(len(OPS)))
    with pytest.raises(SupernasError, match="fewshot_split_fraction"):
        build_supernet(fewshot_config(strategy="spos", fewshot_split_fraction=0.5), space)


def test_fewshot_sub_supernets_start_from_the_one_shot_weights_and_momentum_bit_for_bit(tiny_config, monkeypatch):
    tiny_config.train.strategy, tiny_config.train.fewshot_split_fraction = "fewshot", 0.5  # split at step 3 of 6
    states = saved_states(monkeypatch)
    after_split: dict[str, torch.Tensor] = {}
    momenta: list[tuple[torch.Tensor, torch.Tensor, bool]] = []
    real_split, real_copy = InheritingFewShotSupernet.split, OptimisationPolicy.copy_state

    def recording_split(self):
        pairs = real_split(self)
        after_split.update({name: value.clone() for name, value in self.state_dict().items() if torch.is_tensor(value)})
        return pairs

    def recording_copy(self, pairs):
        real_copy(self, pairs)
        state = self.optimizer.state
        momenta.extend((state[source]["momentum_buffer"].clone(), state[copy]["momentum_buffer"].clone(),
                        state[source]["momentum_buffer"] is state[copy]["momentum_buffer"])
                       for source, copy in pairs if source in state)

    monkeypatch.setattr(InheritingFewShotSupernet, "split", recording_split)
    monkeypatch.setattr(OptimisationPolicy, "copy_state", recording_copy)
    trainer.train_supernet(tiny_config)
    one_shot = states[3]["model"]  # the checkpoint after 3 steps: one supernet in part 0, not yet split
    assert load_checkpoint(checkpoint_path(tiny_config))["model"]["_extra_state"] == {"split": True}
    for name, value in one_shot.items():
        if name.startswith("parts.0."):
            for k in range(len(OPS)):
                assert torch.equal(after_split[name.replace("parts.0.", f"parts.{k}.", 1)], value), (k, name)
    assert momenta and all(torch.equal(source, copy) and not shared for source, copy, shared in momenta)
    assert any(not torch.equal(states[6]["model"][name.replace("parts.0.", f"parts.{k}.", 1)], value)
               for name, value in one_shot.items() if name.startswith("parts.0.") for k in range(len(OPS)))


@pytest.mark.parametrize("crash_at", [2, 4])
def test_inheriting_fewshot_resumes_bit_for_bit_before_and_after_the_split(tiny_config, tmp_path, monkeypatch, crash_at):
    tiny_config.train.strategy, tiny_config.train.fewshot_split_fraction = "fewshot", 0.5
    tiny_config.train.checkpoint_every = 2
    trainer.train_supernet(tiny_config)
    uninterrupted = load_checkpoint(checkpoint_path(tiny_config))

    class Crash(Exception):
        pass

    real_step = OptimisationPolicy.step

    def crashing_step(self, step, archs):
        if step == crash_at + 1:
            raise Crash
        real_step(self, step, archs)

    tiny_config.run_dir = str(tmp_path / "interrupted")
    monkeypatch.setattr(OptimisationPolicy, "step", crashing_step)
    with pytest.raises(Crash):
        trainer.train_supernet(tiny_config)
    monkeypatch.setattr(OptimisationPolicy, "step", real_step)
    assert trainer.train_supernet(tiny_config).resumed_from == crash_at
    resumed = load_checkpoint(checkpoint_path(tiny_config))
    assert resumed["model"].keys() == uninterrupted["model"].keys()
    for name, weight in uninterrupted["model"].items():
        assert torch.equal(resumed["model"][name], weight) if torch.is_tensor(weight) else resumed["model"][name] == weight, name
    saved, restored = uninterrupted["policy"]["optimizer"]["state"], resumed["policy"]["optimizer"]["state"]
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[i]["momentum_buffer"], restored[i]["momentum_buffer"]) for i in saved)
