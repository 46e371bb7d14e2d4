"""The public API: each command is one call on the ``supernas`` package, imported on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import supernas


def test_every_public_name_resolves_to_what_its_module_defines():
    for name in supernas.__all__:
        assert getattr(supernas, name) is not None
    assert supernas.get_space("nasbench201", channels=4, cells_per_stage=1).name == "nasbench201"
    assert "mixpath-s1" in supernas.list_spaces()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        supernas.nope  # noqa: B018


def test_importing_the_package_imports_no_torch():
    code = "import sys, supernas; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
