"""Search spaces, registered by name (``get_space("nasbench201", channels=16)``).

Importing this package registers the built-in spaces; a new space is one module that subclasses
:class:`~supernas.spaces.base.Space` and decorates it with :func:`register_space`.
"""

from supernas.spaces import mixpath_s1, mobilenet, nasbench201, nasbench201_multipath  # noqa: F401  (registers the built-in spaces)
from supernas.spaces.base import Architecture, Space
from supernas.spaces.registry import get_space, list_spaces, register_space, space_builder

__all__ = ["Architecture", "Space", "get_space", "list_spaces", "register_space", "space_builder"]
