"""The registry of search spaces: each space's module registers its class under a name with
:func:`register_space`; :func:`get_space` builds one by name with its options."""

from __future__ import annotations

from typing import Any, Callable

from supernas.errors import SupernasError
from supernas.spaces.base import Space

_REGISTRY: dict[str, Callable[..., Space]] = {}


def register_space(name: str) -> Callable[[Callable[..., Space]], Callable[..., Space]]:
    """Class decorator registering a space builder under ``name``; duplicate names are an error."""

    def decorate(builder: Callable[..., Space]) -> Callable[..., Space]:
        if name in _REGISTRY:
            raise ValueError(f"a search space named {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder

    return decorate


def list_spaces() -> list[str]:
    """Names of the registered spaces."""
    return sorted(_REGISTRY)


def space_builder(name: str) -> Callable[..., Space]:
    """The class (or function) registered as ``name``."""
    if name not in _REGISTRY:
        raise SupernasError(f"unknown search space {name!r}; known spaces: {', '.join(list_spaces())}")
    return _REGISTRY[name]


def get_space(name: str, **options: Any) -> Space:
    """The space registered as ``name``, built with ``options``."""
    builder = space_builder(name)
    try:
        return builder(**options)
    except TypeError as error:
        raise SupernasError(f"bad options for space {name!r}: {error}") from None
