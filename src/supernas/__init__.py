"""supernas: weight-sharing neural architecture search (MixPath, dynamic supernet training)."""

__version__ = "0.1.0"
