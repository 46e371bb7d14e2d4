"""Bad input, property-based: architecture strings of every registered space, configs (YAML files
and dotted overrides) and checkpoints. Every input is either accepted as something valid or
rejected with a one-line SupernasError; no other exception escapes, and a checkpoint carrying
code is refused without running it.

``pytest tests/test_bad_input.py --hypothesis-show-statistics`` shows how many inputs were tried.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import string

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supernas import cli
from supernas.config import Config, from_dict, leaf_fields, load_config, set_dotted, to_dict
from supernas.errors import SupernasError
from supernas.runs.checkpoint import FORMAT, load_checkpoint
from supernas.spaces import get_space, list_spaces
from supernas.utils import seeded_generator

SPACES = {name: get_space(name) for name in list_spaces()}
"""Every registered space with its default options (a space added later is tested too)."""

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_one_line(error: SupernasError) -> None:
    """A user-facing error is one non-empty line."""
    message = str(error)
    assert message.strip() and "\n" not in message and "\r" not in message, repr(message)


def check_architecture_text(space, text: str) -> None:
    """``text`` parses to a member of ``space`` whose canonical string round-trips and differs
    from ``text`` at most by surrounding whitespace and the order of the paths of a layer or
    edge (same characters), or it is rejected with a one-line error."""
    try:
        arch = space.parse(text)
    except SupernasError as error:
        assert_one_line(error)
        return
    canonical = str(arch)
    assert canonical == space.format(arch)
    assert space.parse(canonical) == arch
    assert space.decode(space.encode(arch)) == arch
    assert all(0 <= gene < choices for gene, choices in zip(space.encode(arch), space.gene_choices))
    assert canonical.isascii() and canonical.isprintable()
    assert sorted(text.strip()) == sorted(canonical), f"{text!r} was accepted as {canonical!r}"


def valid_strings(space) -> st.SearchStrategy[str]:
    """Canonical strings of architectures sampled from ``space`` with hypothesis-drawn seeds."""
    return st.integers(0, 2**32).map(lambda seed: str(space.sample(seeded_generator(seed))))


def alphabet_of(space) -> str:
    """The characters valid strings of ``space`` use, plus separators and look-alikes."""
    sample = "".join(str(space.sample(seeded_generator(seed))) for seed in range(20))
    return "".join(sorted(set(sample))) + " \t\n|~+-_.,;:0123456789١٣\u00a0"


@st.composite
def mutated(draw, space) -> str:
    """A valid string of ``space`` after 1..4 random edits (delete, insert, replace, duplicate,
    swap a span)."""
    text = draw(valid_strings(space))
    alphabet = alphabet_of(space)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(("delete", "insert", "replace", "duplicate", "swap")))
        if edit == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 6)):]
        elif edit == "insert":
            text = text[:position] + draw(st.text(alphabet, min_size=1, max_size=4)) + text[position:]
        elif edit == "replace" and position < len(text):
            text = text[:position] + draw(st.sampled_from(alphabet)) + text[position + 1:]
        elif edit == "duplicate":
            span = text[position:position + draw(st.integers(1, 12))]
            text = text[:position] + span + text[position:]
        elif edit == "swap" and len(text) > 1:
            other = draw(st.integers(0, len(text) - 1))
            low, high = sorted((position % len(text), other))
            text = text[:low] + text[high] + text[low + 1:high] + text[low] + text[high + 1:]
    return text


@pytest.mark.parametrize("name", sorted(SPACES))
@FUZZ
@given(data=st.data())
def test_random_text_is_parsed_or_rejected_in_one_line(name, data):
    space = SPACES[name]
    text = data.draw(st.one_of(st.text(max_size=80), st.text(alphabet_of(space), max_size=120)))
    check_architecture_text(space, text)


@pytest.mark.parametrize("name", sorted(SPACES))
@FUZZ
@given(data=st.data())
def test_mutated_valid_strings_are_parsed_or_rejected_in_one_line(name, data):
    check_architecture_text(SPACES[name], data.draw(mutated(SPACES[name])))


@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_valid_strings_round_trip(name, seed):
    space = SPACES[name]
    arch = space.sample(seeded_generator(seed))
    assert space.parse(str(arch)) == arch
    assert space.parse(f"  {arch}\n") == arch


# --- configs -------------------------------------------------------------------------------

LEAVES = {dotted: annotation for dotted, annotation, _ in leaf_fields()}
SECTIONS = sorted({dotted.split(".")[0] for dotted in LEAVES if "." in dotted})
KEY_TEXT = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=16)


def nested(dotted: str, value) -> dict:
    """``{"a": {"b": value}}`` for ``"a.b"``."""
    for key in reversed(dotted.split(".")):
        value = {key: value}
    return value


@st.composite
def unknown_keys(draw) -> str:
    """A dotted key that names no option: a new top-level key or a new key inside a section."""
    key = draw(KEY_TEXT)
    dotted = draw(st.sampled_from([key] + [f"{section}.{key}" for section in SECTIONS]))
    if dotted in LEAVES or dotted in SECTIONS:
        dotted += "_x"
    return dotted


@FUZZ
@given(dotted=unknown_keys(), value=st.one_of(st.integers(), st.text(max_size=10), st.booleans()))
def test_unknown_config_keys_are_rejected_by_name(tmp_path_factory, dotted, value):
    with pytest.raises(SupernasError) as raised:
        from_dict(nested(dotted, value))
    assert repr(dotted) in str(raised.value)
    assert_one_line(raised.value)
    path = tmp_path_factory.mktemp("yaml") / "config.yaml"
    path.write_text(yaml.safe_dump(nested(dotted, value)))
    with pytest.raises(SupernasError) as raised:
        load_config(str(path))
    assert repr(dotted) in str(raised.value)
    assert_one_line(raised.value)


def wrong_values(annotation) -> st.SearchStrategy:
    """Values of a type that an option of ``annotation`` must not accept."""
    containers = st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(KEY_TEXT, st.integers(), min_size=1, max_size=2))
    words = st.text(string.ascii_letters, min_size=1, max_size=8).filter(
        lambda w: w.lower() not in ("true", "false", "yes", "no", "on", "off", "none", "null", "nan", "inf", "infinity"))
    if annotation is bool:
        return st.one_of(containers, words, st.integers(), st.floats(allow_nan=False))
    if annotation is int:
        return st.one_of(containers, words, st.booleans(), st.floats(allow_nan=False).filter(lambda f: not f.is_integer()))
    if annotation is float:
        return st.one_of(containers, words, st.booleans())
    if annotation is dict:
        return st.one_of(st.lists(st.integers(), max_size=3), words, st.integers())
    return containers


@FUZZ
@given(data=st.data())
def test_wrong_types_are_rejected_in_one_line(data):
    dotted = data.draw(st.sampled_from(sorted(LEAVES)))
    value = data.draw(wrong_values(LEAVES[dotted]))
    with pytest.raises(SupernasError) as raised:
        from_dict(nested(dotted, value))
    assert repr(dotted) in str(raised.value)
    assert_one_line(raised.value)


@FUZZ
@given(dotted=st.text(string.ascii_lowercase + "._", min_size=1, max_size=30), raw=st.text(max_size=20))
def test_dotted_overrides_are_applied_or_rejected_in_one_line(dotted, raw):
    config = Config()
    try:
        set_dotted(config, dotted, raw)
    except SupernasError as error:
        assert_one_line(error)
        return
    assert dotted in LEAVES or dotted.startswith("space.options.")
    from_dict(to_dict(config))


@FUZZ
@given(text=st.text(max_size=200))
def test_random_yaml_files_are_read_or_rejected_in_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "config.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(str(path))
    except SupernasError as error:
        assert_one_line(error)


@pytest.mark.parametrize("content, named", [
    ("train:\n  lrr: 0.1\n", "'train.lrr'"),
    ("trian:\n  lr: 0.1\n", "'trian'"),
    ("data:\n  batch_size: [64]\n", "'data.batch_size'"),
    ("train:\n  steps: 12.5\n", "'train.steps'"),
    ("train:\n  strategy: {a: 1}\n", "'train.strategy'"),
    ("data:\n  flip: maybe\n", "'data.flip'"),
])
def test_cli_rejects_a_bad_yaml_config_in_one_line_naming_the_key(tmp_path, capsys, content, named):
    path = tmp_path / "config.yaml"
    path.write_text(content)
    assert cli.main(["train", "--config", str(path), "--run_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supernas: error: ") and err.count("\n") == 1 and named in err, err


# --- checkpoints ---------------------------------------------------------------------------

class RunsCode:
    """Unpickling this calls ``os.system`` (what a malicious checkpoint would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def framed_checkpoint(state_bytes: bytes) -> dict:
    """A v2 checkpoint frame around ``state_bytes`` with a matching checksum."""
    return {"format": FORMAT, "sha256": hashlib.sha256(state_bytes).hexdigest(),
            "payload": torch.frombuffer(bytearray(state_bytes), dtype=torch.uint8)}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("where", ["frame", "payload", "plain pickle"])
def test_a_checkpoint_with_code_in_it_is_refused_and_the_code_never_runs(tmp_path, where):
    marker = tmp_path / "code-ran"
    path = tmp_path / "last.pt"
    if where == "frame":
        torch.save({"format": FORMAT, "model": RunsCode(marker)}, path)
    elif where == "payload":
        inner = io.BytesIO()
        torch.save({"model": RunsCode(marker), "step": 1}, inner)
        torch.save(framed_checkpoint(inner.getvalue()), path)
    else:
        path.write_bytes(pickle.dumps({"format": FORMAT, "model": RunsCode(marker)}))
    with pytest.raises(SupernasError, match="was refused|truncated or corrupted") as raised:
        load_checkpoint(path)
    assert_one_line(raised.value)
    assert not marker.exists()


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_random_bytes_are_not_a_checkpoint(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ckpt") / "last.pt"
    path.write_bytes(data)
    with pytest.raises(SupernasError) as raised:
        load_checkpoint(path)
    assert_one_line(raised.value)


def test_cli_refuses_a_code_carrying_checkpoint_in_one_line(tmp_path, capsys):
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"format": FORMAT, "model": RunsCode(marker)}, ckpt)
    args = ["train", "--run_dir", str(tmp_path / "run"), "--data.dataset", "synthetic", "--data.synthetic_size", "64",
            "--data.device", "cpu", "--space.options.channels", "4", "--space.options.cells_per_stage", "1"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "was refused" in err and err.count("\n") == 1, err
    assert not marker.exists()
