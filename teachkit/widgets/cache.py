"""A bounded least-recently-used cache of sampled trajectories (entry count and bytes); collections.OrderedDict does the rest."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["BoundedCache"]


class BoundedCache:
    """A least-recently-used dict bounded by entry count and (via `sizeof`) by total bytes, with hit/miss counters."""

    def __init__(self, maxsize: int = 8, max_bytes: int | None = None,
                 sizeof: Callable[[Any], int] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"cache maxsize must be >= 1, got {maxsize}")
        self.maxsize, self.max_bytes = maxsize, max_bytes
        self.sizeof = sizeof or (lambda value: 0)
        self.hits = 0
        self.misses = 0
        self.nbytes = 0
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        """The cached value (counted as a hit, marked most recently used); KeyError when absent."""
        value = self._data[key]
        self.hits += 1
        self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store a value, evicting the least recently used entries beyond the bounds (the newest always stays)."""
        if key in self._data:
            self.nbytes -= self.sizeof(self._data.pop(key))
        self._data[key] = value
        self.nbytes += self.sizeof(value)
        while len(self._data) > 1 and (len(self._data) > self.maxsize or
                                       (self.max_bytes is not None and self.nbytes > self.max_bytes)):
            _, old = self._data.popitem(last=False)
            self.nbytes -= self.sizeof(old)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the cached value for `key`, computing (and storing) it on a miss."""
        if key in self._data:
            return self.get(key)
        self.misses += 1
        value = compute()
        self.put(key, value)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list:
        """The cached keys, least recently used first."""
        return list(self._data)

    def clear(self) -> None:
        """Forget every entry (counters are kept)."""
        self._data.clear()
        self.nbytes = 0
