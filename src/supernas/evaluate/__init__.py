"""Scoring architectures by name, each score cached: the trained supernet's held-out accuracy or
loss (after BN calibration when needed), zero-cost scores of the untrained subnet, and fused
rank aggregates of those."""
