"""Supernet training: samplers, optimisation policy, checkpoints and the training loop."""
