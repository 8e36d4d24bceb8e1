"""A name -> plugin-object registry with case-insensitive aliases and did-you-mean errors."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from glue_cli.errors import GlueError, UnknownNameError

T = TypeVar("T")


def normalize(name: str) -> str:
    """``SST-2``, ``sst_2`` and ``sst2`` are one name."""
    return re.sub(r"[-_\s]", "", name.lower())


class Registry(Generic[T]):
    """Objects of one kind (``task``, ``backend``) by name, remembering which plugin gave each."""

    def __init__(self, kind: str, names_of: Callable[[T], tuple[str, ...]]) -> None:
        self.kind = kind
        self._names_of = names_of
        self._items: dict[str, T] = {}
        self._keys: dict[str, str] = {}
        self._owners: dict[str, str] = {}

    def register(self, item: T, owner: str = "?") -> None:
        name, *aliases = self._names_of(item)
        for key in {normalize(n) for n in (name, *aliases)}:
            if key in self._keys:
                other = self._owners[self._keys[key]]
                raise GlueError(
                    f"Plugins {other!r} and {owner!r} both register the {self.kind} {key!r}.",
                    "Uninstall one of them, or disable it with GLUE_DISABLE_PLUGINS=name.",
                )
            self._keys[key] = name
        self._items[name] = item
        self._owners[name] = owner

    def names(self) -> list[str]:
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._items)

    def owner(self, name: str) -> str:
        return self._owners[name]

    def get(self, name: str) -> T:
        key = normalize(name)
        if key in self._keys:
            return self._items[self._keys[key]]
        close = difflib.get_close_matches(key, list(self._keys), n=1, cutoff=0.6)
        hint = f"Did you mean {self._keys[close[0]]!r}? " if close else ""
        known = ", ".join(self.names()) or "(none installed)"
        raise UnknownNameError(f"Unknown {self.kind} {name!r}.", f"{hint}Known: {known}.")
