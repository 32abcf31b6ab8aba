"""`Registry`: backends chosen by name from a setting, never by an if-chain.

A backend module registers a factory under a name (`@GENERATORS.register("openai")`);
the service asks the registry for the name a setting holds. Factories import their
heavy dependencies themselves, so naming a backend costs nothing until it is built.
Tests register their fakes the same way.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

from rag.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[T]):
    """Factories of one kind of backend, by name."""

    def __init__(self, kind: str, variable: str) -> None:
        self.kind = kind
        self.variable = variable  # the setting that names one, for error messages
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: make a factory available under `name` (a later one replaces it)."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return add

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered as `name`; `ConfigError` naming the choices otherwise."""
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r} ({self.variable}); "
                f"choose one of {', '.join(self.names())}"
            ) from None

    def create(self, name: str, *args: object) -> T:
        """Build the backend registered as `name`."""
        return self.factory(name)(*args)
