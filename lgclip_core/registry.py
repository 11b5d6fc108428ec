"""A read-only mapping over a dict whose unknown keys raise ``UnknownNameError`` listing the known ones: the
shape of the zoo's profiles (role -> backend) and the protocols (choice -> value)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import UnknownNameError


class NamedMapping(Mapping[str, Any]):
    """``values`` as a mapping; ``what`` names the keys in the error for an unknown one."""

    def __init__(self, values: dict[str, Any], what: str):
        self._values, self._what = dict(values), what

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise UnknownNameError(self._what, key, list(self._values))
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
