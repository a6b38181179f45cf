"""Model registry: named entry points behind :func:`create_model`."""

from __future__ import annotations

from typing import Callable, TypeVar

from torch import nn

from lcnn.errors import UnknownModelError

__all__ = ["register_model", "create_model", "list_models"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}

FactoryT = TypeVar("FactoryT", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[FactoryT], FactoryT]:
    """Register a model factory under ``name``; used as a decorator.

    Raises:
        ValueError: if ``name`` is already registered.
    """

    def decorator(factory: FactoryT) -> FactoryT:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name]!r}.")
        _REGISTRY[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """Return the registered model names, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``.

    Example:
        >>> model = create_model("lcnn9", in_channels=3, num_classes=10, input_size=(32, 32))

    Raises:
        UnknownModelError: if ``name`` is not registered; the message lists the known names.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; registered models: {', '.join(list_models())}."
        ) from None
    return factory(**kwargs)
