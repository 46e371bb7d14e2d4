"""Evaluating a search: how well supernet scores rank architectures against ground truth."""
