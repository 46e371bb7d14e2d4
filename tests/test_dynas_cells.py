"""DYNAS's Kendall-τ cells (benchmarks/dynas_cells.py): its cell numbering and the refusal of
anything but plain pickled numbers."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from supernas.errors import SupernasError
from supernas.spaces import get_space

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import dynas_cells  # noqa: E402


def test_dynas_index_is_base_five_over_the_edges_first_edge_most_significant():
    assert dynas_cells.dynas_cell(0) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert dynas_cells.dynas_cell(5 ** 5) == "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert dynas_cells.dynas_cell(3) == "|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    cells = {dynas_cells.dynas_cell(index) for index in range(5 ** 6)}
    space = get_space("nasbench201")
    assert len(cells) == 15625 and all(str(space.parse(cell)) == cell for cell in list(cells)[::997])


def test_only_plain_lists_of_numbers_are_unpickled(tmp_path):
    good, bad = tmp_path / "good.pkl", tmp_path / "bad.pkl"
    good.write_bytes(pickle.dumps([0, 12, 15624]))
    bad.write_bytes(pickle.dumps([Path("x")]))
    assert dynas_cells.read_number_list(good) == [0, 12, 15624]
    with pytest.raises(SupernasError, match="refusing to unpickle pathlib"):
        dynas_cells.read_number_list(bad)


def test_the_converted_cells_file_lists_dynas_cells_with_their_parameter_count_tau():
    path = Path(__file__).resolve().parents[1] / "studies" / "cells" / "nb201-dynas-kendall.txt"
    lines = path.read_text().splitlines()
    cells = [line for line in lines if not line.startswith("#")]
    assert len(cells) == len(set(cells)) == 327
    assert "Parameter count on these cells: Kendall tau 0.638." in lines[3]
