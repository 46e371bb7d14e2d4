"""User-facing errors.

Anything a user can cause (a bad architecture string, a missing dataset, a checkpoint from
another run) raises :class:`SupernasError` with a one-line message naming the problem. The
CLI prints that line and exits with status 2 instead of showing a traceback.
"""


class SupernasError(Exception):
    """An error caused by user input, reported as one line without a traceback."""
