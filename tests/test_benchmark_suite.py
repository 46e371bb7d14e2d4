"""The performance suite (benchmarks/run_all.py) runs every section at toy sizes and appends its tables."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the markdown rows whose first cell starts with ``first_cell``."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if row[0].startswith(first_cell)]


def test_quick_suite_appends_every_table_with_measured_values(tmp_path, capsys):
    import run_all

    markdown = tmp_path / "BENCH.md"
    markdown.write_text("# earlier results\n")
    assert run_all.main(["--quick", "--same-process", "--device", "cpu", "--markdown", str(markdown)]) == 0
    text = markdown.read_text()
    assert text.startswith("# earlier results\n") and text.endswith(capsys.readouterr().out.rstrip("\n") + "\n")
    assert re.search(r"## Performance suite \(\d{4}-\d\d-\d\d, CPU .*, torch \d", text)

    training = table_rows(text, "NAS-Bench-201 SPOS")
    assert [row[1] for row in training] == ["reference-style baseline (per-image DataLoader, fp32)", "supernas fp32"]
    assert training[0][5] == "1.00" and all(float(row[3]) > 0 and float(row[4]) > 0 and float(row[6]) > 0 for row in training)
    mixpath = table_rows(text, "MixPath S1 m=4")
    assert [row[1] for row in mixpath] == ["naive per-path sum (baseline)", "reference", "fused"]

    per_paths = [row for row in table_rows(text, "") if row[0] in "1234" and len(row) == 8]
    assert [row[0] for row in per_paths] == ["1", "2", "3", "4"]
    assert all(row[4:7] == ["1.00"] * 3 for row in per_paths[:1])

    evaluations = [row for row in table_rows(text, "") if row[0] in ("1", "2") and len(row) == 4]
    assert [row[0] for row in evaluations] == ["1", "2"] and all(float(row[2]) > 0 for row in evaluations)
    assert float(table_rows(text, "supernet accuracy")[0][3]) == 8

    groups = [row for row in table_rows(text, "") if len(row) == 5 and row[0] in ("1", "2")]
    assert [(row[0], row[2]) for row in groups] == [("1", "1.00"), ("2", "2.00")]
