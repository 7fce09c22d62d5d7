"""Local copies kept up to date, blocking and asyncio: `NodeCache`,
`TreeCache`, `DataWatch` and `AsyncNodeCache`, `AsyncTreeCache`
(`Client.node_cache`, `tree_cache`, `data_watch`). The native caches do
the watching; this module only reads them and feeds callbacks.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from . import _coord
from ._coord import Stat
from ._common import Subscription
from ._streams import AsyncUpdates


class NodeCache:
    """A local copy of one node (`c.node_cache(path)`), kept up to date."""

    def __init__(self, core: _coord.NodeCacheCore) -> None:
        self._core = core

    @property
    def value(self) -> Optional[Tuple[bytes, Stat]]:
        """`(data, Stat)`, or None when the node does not exist."""
        return self._core.current()

    @property
    def data(self) -> Optional[bytes]:
        """The node's data, or None."""
        v = self._core.current()
        return None if v is None else v[0]

    @property
    def stat(self) -> Optional[Stat]:
        """The node's Stat, or None."""
        v = self._core.current()
        return None if v is None else v[1]

    def on_change(self, callback: Callable[[Optional[Tuple[bytes, Stat]]], Any]) -> Subscription:
        """Calls `callback(value)` after each change, from a background thread."""
        return Subscription(self._core.changes(), callback)

    def close(self) -> None:
        """Stops following the node."""
        self._core.close().wait()

    def __enter__(self) -> "NodeCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _TreeReads:
    """The reads a tree cache answers from its copy, blocking or asyncio
    alike (no I/O)."""

    def __init__(self, core: _coord.TreeCacheCore) -> None:
        self._core = core

    def get(self, path: str) -> Optional[Tuple[bytes, Stat]]:
        """`(data, Stat)` of a cached node, or None."""
        return self._core.get(path)

    def children(self, path: str) -> Dict[str, Tuple[bytes, Stat]]:
        """`{name: (data, Stat)}` of the children of `path`."""
        return self._core.children(path)

    def snapshot(self) -> Dict[str, Tuple[bytes, Stat]]:
        """`{path: (data, Stat)}` of every cached node."""
        return self._core.snapshot()

    def __len__(self) -> int:
        return len(self._core)


class TreeCache(_TreeReads):
    """A local copy of a subtree (`c.tree_cache(path)`), kept up to date."""

    def on_change(self, callback: Callable[[], Any]) -> Subscription:
        """Calls `callback()` after each change of the subtree."""
        return Subscription(self._core.changes(), lambda _none: callback())

    def close(self) -> None:
        """Stops following the subtree."""
        self._core.close().wait()

    def __enter__(self) -> "TreeCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DataWatch:
    """`c.data_watch(path, cb)`: calls `cb(data, stat)` now and after every
    change (`cb(None, None)` while the node does not exist), from a
    background thread, until `close()`."""

    def __init__(self, cache: _coord.NodeCacheCore, callback: Callable[[Optional[bytes], Optional[Stat]], Any]) -> None:
        self._cache = cache
        first = cache.current()
        callback(*(first if first is not None else (None, None)))
        self._sub = Subscription(
            cache.changes(), lambda v: callback(*(v if v is not None else (None, None)))
        )

    def close(self) -> None:
        """Stops calling the callback."""
        self._sub.close()
        self._cache.close().wait()


class AsyncNodeCache:
    """A local copy of one node, kept up to date."""

    def __init__(self, core: _coord.NodeCacheCore) -> None:
        self._core = core

    @property
    def value(self) -> Optional[Tuple[bytes, Stat]]:
        """`(data, Stat)`, or None."""
        return self._core.current()

    def changes(self) -> AsyncUpdates[Optional[Tuple[bytes, Stat]]]:
        """The new value after each change."""
        return AsyncUpdates(self._core.changes())

    async def close(self) -> None:
        """Stops following the node."""
        await self._core.close()


class AsyncTreeCache(_TreeReads):
    """A local copy of a subtree, kept up to date."""

    async def close(self) -> None:
        """Stops following the subtree."""
        await self._core.close()
