"""Supernet training: samplers, the optimisation policy (LR schedules, CaLR, momentum groups),
the training loop, and the recipe that trains one standalone network from scratch."""
