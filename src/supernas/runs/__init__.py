"""A run and its directory: the names of its files, its checkpoints, its process group, and what
it is built from (data splits and batches, space, supernet)."""
