"""supernas: weight-sharing neural architecture search (MixPath, dynamic supernet training).

Everything the command line does is one call from Python::

    import supernas

    config = supernas.load_config("nb201-fast", {"run_dir": "runs/demo"})
    supernas.train_supernet(config)       # supernas train
    supernas.rank_run(config)             # supernas rank
    supernas.search_run(config)           # supernas search
    supernas.export_run(config)           # supernas export
    supernas.retrain_run(config)          # supernas retrain
    supernas.groundtruth_run(config)      # supernas groundtruth
    supernas.run_study("study.yaml")      # supernas study
    space = supernas.get_space("nasbench201", channels=16)

The names are imported on first use, so ``import supernas`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "Config": "supernas.config",
    "load_config": "supernas.config",
    "SupernasError": "supernas.errors",
    "Architecture": "supernas.spaces",
    "Space": "supernas.spaces",
    "get_space": "supernas.spaces",
    "list_spaces": "supernas.spaces",
    "register_space": "supernas.spaces",
    "train_supernet": "supernas.train.trainer",
    "rank_run": "supernas.rank",
    "search_run": "supernas.search.runner",
    "export_run": "supernas.subnet.export",
    "retrain_run": "supernas.subnet.retrain",
    "groundtruth_run": "supernas.groundtruth.builder",
    "run_study": "supernas.study",
}
"""Each public name and the module that defines it."""

__all__ = sorted(_API)


def __getattr__(name: str):
    """Import a public name from its module on first use."""
    if name not in _API:
        raise AttributeError(f"module 'supernas' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
