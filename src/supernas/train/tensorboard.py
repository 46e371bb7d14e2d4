"""Optional TensorBoard logging of training records (``train.tensorboard``)."""

from __future__ import annotations

from pathlib import Path

from supernas.errors import SupernasError
from supernas.runs.files import TENSORBOARD_DIR


class TensorBoardLog:
    """Every numeric entry of each ``log.jsonl`` record as a TensorBoard scalar at its ``step``,
    written by ``torch.utils.tensorboard.SummaryWriter`` into ``RUN_DIR/tensorboard``."""

    def __init__(self, run_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SupernasError("train.tensorboard needs the tensorboard package (pip install tensorboard), "
                                "or set --train.tensorboard false") from None
        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR))

    def write(self, record: dict) -> None:
        """Log the record's numbers (except ``step``) under their keys, flushed at once."""
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, record["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
