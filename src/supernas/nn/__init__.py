"""Building blocks: NAS-Bench-201 cells, multi-path layers, Shadow BatchNorm."""
