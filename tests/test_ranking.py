"""Tests for ground-truth tables and ranking metrics."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import supernas

from supernas.errors import SupernasError
from supernas.groundtruth.ranking import (
                                          compare_to_ground_truth,
                                          rank_order,
                                          ranking_metrics,
                                          top_k_count,
                                          write_ranking,
                                          )
from supernas.groundtruth.tables import GroundTruth, default_nasbench201_path, load_ground_truth

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NB201_CSV = SHARED_DATA / "nasbench201.csv"
needs_nb201 = pytest.mark.skipif(not NB201_CSV.is_file(), reason=f"{NB201_CSV} not present")
NB201_BEST_CIFAR10 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    """Write ``rows`` (header first) as a CSV file at ``path``."""
    with path.open("w", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


@pytest.fixture
def small_table(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "table.csv",
        [
            ["arch", "acc_seed0", "acc_mean", "flops", "recipe"],
            ["a", "90.0", "91.5", "10", "short"],
            ["b", "80.0", "", "20", "short"],
            ["c", "70.0", "75.25", "30", "long"],
        ],
    )


# --- ranking_metrics -------------------------------------------------------------------------


def test_perfect_order_gives_one():
    metrics = ranking_metrics([0.1, 0.2, 0.3, 0.4, 0.5], [10, 20, 30, 40, 50])
    assert metrics.kendall_tau == pytest.approx(1.0)
    assert metrics.spearman_rho == pytest.approx(1.0)
    assert metrics.top1_true == 50
    assert metrics.best_true == 50
    assert metrics.num_archs == 5


def test_reversed_order_gives_minus_one():
    metrics = ranking_metrics([5, 4, 3, 2, 1], [10, 20, 30, 40, 50])
    assert metrics.kendall_tau == pytest.approx(-1.0)
    assert metrics.spearman_rho == pytest.approx(-1.0)
    assert metrics.top1_true == 10
    assert metrics.precision_at_top == 0.0


def test_ties_use_tau_b_not_tau_a():
    # 6 pairs: 5 concordant, 1 tied in the prediction only.
    # tau-a = 5/6; tau-b = 5 / sqrt((6 - 1) * 6) = 5 / sqrt(30).
    predicted, truth = [1, 1, 2, 3], [1, 2, 3, 4]
    metrics = ranking_metrics(predicted, truth)
    assert metrics.kendall_tau == pytest.approx(5 / math.sqrt(30))
    assert metrics.kendall_tau != pytest.approx(5 / 6)
    assert metrics.kendall_tau == pytest.approx(stats.kendalltau(predicted, truth).statistic)
    # Ranks of the prediction are 1.5, 1.5, 3, 4: rho = 4.5 / sqrt(4.5 * 5).
    assert metrics.spearman_rho == pytest.approx(4.5 / math.sqrt(22.5))


def test_precision_at_top_hand_computed():
    # n = 10, top_fraction 0.3 -> k = 3. True top 3: items 9, 8, 7.
    # Predicted top 3: items 9 (0.99), 7 (0.95), 0 (0.90) -> overlap {9, 7} = 2 of 3.
    truth = list(range(10))
    predicted = [0.90, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.95, 0.7, 0.99]
    metrics = ranking_metrics(predicted, truth, top_fraction=0.3)
    assert metrics.precision_at_top == pytest.approx(2 / 3)
    assert metrics.top1_true == 9
    assert metrics.top_fraction == 0.3


def test_top_k_is_at_least_one():
    assert top_k_count(4, 0.1) == 1
    assert top_k_count(100, 0.1) == 10
    assert top_k_count(19, 0.1) == 2  # rounded, not truncated
    assert top_k_count(15625, 0.01) == 156
    # k = 1: only the first-ranked item counts; it is not the true best here.
    assert ranking_metrics([3, 2, 1, 0], [3, 4, 1, 0], top_fraction=0.1).precision_at_top == 0.0


def test_prediction_ties_broken_by_input_order():
    assert rank_order([5, 5, 1, 7]).tolist() == [3, 0, 1, 2]
    values = [i % 3 for i in range(60)]  # long enough that an unstable sort reorders ties
    expected = [i for level in (2, 1, 0) for i in range(60) if values[i] == level]
    assert rank_order(values).tolist() == expected
    metrics = ranking_metrics([5, 5, 1], [1, 9, 0])
    assert metrics.top1_true == 1
    assert metrics.best_true == 9


def test_constant_prediction_gives_nan_correlations():
    metrics = ranking_metrics([1, 1, 1], [1, 2, 3])
    assert math.isnan(metrics.kendall_tau)
    assert math.isnan(metrics.spearman_rho)


@pytest.mark.parametrize(
    ("predicted", "truth", "fraction", "message"),
    [
        ([1, 2, 3], [1, 2], 0.1, "3 predicted scores but 2 true values"),
        ([1], [1], 0.1, "at least 2"),
        ([1, 2], [1, 2], 0.0, "top_fraction"),
        ([1, 2], [1, 2], 1.5, "top_fraction"),
        ([1, float("nan")], [1, 2], 0.1, "finite"),
    ],
)
def test_ranking_metrics_rejects_bad_input(predicted, truth, fraction, message):
    with pytest.raises(SupernasError, match=message):
        ranking_metrics(predicted, truth, top_fraction=fraction)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.floats(0, 100, allow_nan=False)), min_size=3, max_size=30
    )
)
def test_correlations_match_scipy(pairs):
    predicted, truth = (list(column) for column in zip(*pairs))
    metrics = ranking_metrics(predicted, truth)
    tau = stats.kendalltau(predicted, truth, variant="b").statistic
    rho = stats.spearmanr(predicted, truth).statistic
    assert metrics.kendall_tau == pytest.approx(tau, nan_ok=True)
    assert metrics.spearman_rho == pytest.approx(rho, nan_ok=True)
    assert metrics.best_true == max(truth)


def test_as_dict_has_every_field():
    metrics = ranking_metrics([1, 2], [1, 2])
    assert metrics.as_dict() == {
        "num_archs": 2,
        "kendall_tau": pytest.approx(1.0),
        "spearman_rho": pytest.approx(1.0),
        "top_fraction": 0.1,
        "precision_at_top": 1.0,
        "top1_true": 2.0,
        "best_true": 2.0,
    }


# --- load_ground_truth -----------------------------------------------------------------------


def test_load_keeps_columns_and_skips_empty_values(small_table: Path):
    truth = load_ground_truth(small_table, "acc_mean")
    assert truth.columns == ("arch", "acc_seed0", "acc_mean", "flops", "recipe")
    assert truth.values == {"a": 91.5, "c": 75.25}
    assert len(truth) == 2
    assert "a" in truth and "b" not in truth
    assert truth["c"] == 75.25
    assert truth.column == "acc_mean"
    assert truth.path == str(small_table)
    assert load_ground_truth(small_table, "flops")["b"] == 20.0


def test_unknown_arch_names_arch_and_file(small_table: Path):
    truth = load_ground_truth(small_table, "acc_mean")
    with pytest.raises(SupernasError, match=r"'zzz'.*table\.csv"):
        truth["zzz"]


def test_missing_column_lists_columns(small_table: Path):
    with pytest.raises(SupernasError) as error:
        load_ground_truth(small_table, "cifar10_test_acc")
    message = str(error.value)
    assert "'cifar10_test_acc'" in message
    assert "arch, acc_seed0, acc_mean, flops, recipe" in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path):
    with pytest.raises(SupernasError, match="not found.*nope.csv"):
        load_ground_truth(tmp_path / "nope.csv", "acc")


def test_no_arch_column(tmp_path: Path):
    path = write_csv(tmp_path / "t.csv", [["name", "acc"], ["a", "1"]])
    with pytest.raises(SupernasError, match="no 'arch' column"):
        load_ground_truth(path, "acc")


def test_non_numeric_value_names_line(tmp_path: Path):
    path = write_csv(tmp_path / "t.csv", [["arch", "acc"], ["a", "1"], ["b", "high"]])
    with pytest.raises(SupernasError, match="line 3.*'high'"):
        load_ground_truth(path, "acc")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["a", "1"], ["a", "2"]], "line 3.*'a' appears twice"),
        ([["a", ""], ["a", "2"]], "line 3.*'a' appears twice"),
        ([["a", "1", "x"]], "line 2 has 3 fields"),
        ([["", "1"]], "line 2: empty arch"),
        ([["a", "inf"]], "line 2.*not a finite number"),
    ],
)
def test_malformed_rows(tmp_path: Path, rows, message):
    path = write_csv(tmp_path / "t.csv", [["arch", "acc"], *rows])
    with pytest.raises(SupernasError, match=message):
        load_ground_truth(path, "acc")


# --- compare_to_ground_truth / write_ranking -------------------------------------------------


def test_compare_to_ground_truth(small_table: Path):
    truth = load_ground_truth(small_table, "acc_seed0")
    metrics = compare_to_ground_truth({"a": 0.2, "b": 0.9, "c": 0.1}, truth, top_fraction=0.34)
    # Predicted order b, a, c vs true a, b, c: pairs (a,b) discordant, (a,c), (b,c) concordant.
    assert metrics.kendall_tau == pytest.approx(1 / 3)
    assert metrics.top1_true == 80.0
    assert metrics.best_true == 90.0
    assert metrics.precision_at_top == 0.0


def test_compare_names_first_missing_arch_and_count(small_table: Path):
    truth = load_ground_truth(small_table, "acc_mean")
    with pytest.raises(SupernasError, match=r"2 of 4 .*first: 'b'"):
        compare_to_ground_truth({"a": 1.0, "b": 2.0, "c": 3.0, "q": 4.0}, truth)


def test_write_ranking(tmp_path: Path, small_table: Path):
    truth = load_ground_truth(small_table, "acc_seed0")
    scores = {"a": 0.2, "b": 0.9, "c": 0.2}
    metrics = compare_to_ground_truth(scores, truth)
    out = tmp_path / "run"
    json_path, csv_path = write_ranking(out, scores, truth, metrics, extra={"seed": 3, "dir": out})
    assert (json_path, csv_path) == (out / "ranking.json", out / "ranking.csv")
    assert sorted(p.name for p in out.iterdir()) == ["ranking.csv", "ranking.json"]
    summary = json.loads(json_path.read_text())
    assert summary["metrics"] == json.loads(json.dumps(metrics.as_dict()))
    assert summary["truth"] == {"path": str(small_table), "column": "acc_seed0"}
    assert summary["extra"] == {"seed": 3, "dir": str(out)}
    with csv_path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["arch", "score", "truth", "predicted_rank", "true_rank"],
        ["b", "0.9", "80.0", "1", "2"],
        ["a", "0.2", "90.0", "2", "1"],
        ["c", "0.2", "70.0", "3", "3"],
    ]


def test_write_ranking_writes_nan_as_null(tmp_path: Path, small_table: Path):
    truth = load_ground_truth(small_table, "acc_seed0")
    scores = {"a": 1.0, "b": 1.0}
    json_path, _ = write_ranking(tmp_path, scores, truth, compare_to_ground_truth(scores, truth))
    summary = json.loads(json_path.read_text())
    assert summary["metrics"]["kendall_tau"] is None
    assert summary["extra"] == {}


# --- NAS-Bench-201 table ---------------------------------------------------------------------


@needs_nb201
def test_nasbench201_table():
    truth = load_ground_truth(NB201_CSV, "cifar10_test_acc")
    assert len(truth) == 15625
    assert truth.columns == (
        "arch",
        "index",
        "cifar10_test_acc",
        "cifar100_test_acc",
        "imagenet16_test_acc",
    )
    index = load_ground_truth(NB201_CSV, "index")
    assert index[NB201_BEST_CIFAR10] == 6111
    assert truth[NB201_BEST_CIFAR10] == pytest.approx(94.37333, abs=1e-4)
    assert max(truth.values.values()) == truth[NB201_BEST_CIFAR10]
    assert max(truth.values, key=truth.values.get) == NB201_BEST_CIFAR10


@needs_nb201
def test_nasbench201_self_ranking_is_perfect():
    truth = load_ground_truth(NB201_CSV, "cifar10_test_acc")
    metrics = compare_to_ground_truth(truth.values, truth)
    assert metrics.kendall_tau == pytest.approx(1.0)
    assert metrics.precision_at_top == 1.0
    assert metrics.top1_true == metrics.best_true == truth[NB201_BEST_CIFAR10]
    cifar100 = load_ground_truth(NB201_CSV, "cifar100_test_acc")
    cross = compare_to_ground_truth(cifar100.values, truth)
    assert 0.8 < cross.kendall_tau < 1.0


def test_default_path_prefers_supernas_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "nasbench201.csv").write_text("arch,acc\n")
    monkeypatch.setenv("SUPERNAS_DATA", str(tmp_path))
    assert default_nasbench201_path() == tmp_path / "nasbench201.csv"


def test_default_path_finds_cwd_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SUPERNAS_DATA", raising=False)
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "nasbench201.csv").write_text("arch,acc\n")
    monkeypatch.chdir(tmp_path)
    assert default_nasbench201_path() == tmp_path / ".data" / "nasbench201.csv"


@needs_nb201
@pytest.mark.skipif(
    Path(supernas.__file__).resolve().parents[2] != Path(__file__).resolve().parents[1],
    reason="supernas is not imported from this checkout",
)
def test_default_path_finds_shared_data_beside_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("SUPERNAS_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    found = default_nasbench201_path()
    assert found is not None and found.resolve() == NB201_CSV.resolve()


def test_ground_truth_is_frozen(small_table: Path):
    truth = load_ground_truth(small_table, "acc_mean")
    assert isinstance(truth, GroundTruth)
    with pytest.raises(AttributeError):
        truth.column = "flops"  # type: ignore[misc]
