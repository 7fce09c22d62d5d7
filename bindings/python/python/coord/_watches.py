"""One-shot watches, watch removal, session state changes and children with
stats, blocking and asyncio: the `OneshotWatch` handles and the methods
mixed into `coord.Client` (`WatchesMixin`) and `coord.AsyncClient`
(`AsyncWatchesMixin`). Persistent watches (`c.watch`) and caches live with
the clients; this module only adapts the native calls.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from . import _coord
from ._common import Subscription
from ._coord import Stat, WatchEvent
from ._streams import AsyncUpdates, Updates, _timeout

WATCH_KINDS = ("any", "data", "children", "persistent", "persistent_recursive")
"""The kinds `remove_watches` takes: one-shot data/exists watches (`data`),
one-shot children watches (`children`), persistent watches (`persistent`,
`persistent_recursive`), or all of them (`any`)."""


class OneshotWatch:
    """A watch set by `get_watch`, `exists_watch` or `children_watch`: it
    fires once, at the first change it watches, then is gone from the server.

    `wait(timeout=None)` blocks until it fires and returns the `WatchEvent`
    (None after `timeout` seconds; Ctrl-C interrupts it); waiting again
    returns the same event. It raises `CancelledError` if `remove_watches`
    removed it, `SessionExpiredError` or `ClosedError` if the session ended
    first. A reconnect does not lose it.
    """

    def __init__(self, core: _coord.OneshotCore) -> None:
        self._core = core

    def wait(self, timeout: Optional[float] = None) -> Optional[WatchEvent]:
        """The event once the watch fires, or None after `timeout` seconds."""
        return self._core.wait(_timeout(timeout)).wait()  # type: ignore[no-any-return]

    @property
    def fired(self) -> bool:
        """True once the watch fired (or ended with an error)."""
        return self._core.fired


class AsyncOneshotWatch:
    """`OneshotWatch` for asyncio: `await w.wait(timeout=None)`; cancelling
    the awaiting task leaves the watch in place (wait again later)."""

    def __init__(self, core: _coord.OneshotCore) -> None:
        self._core = core

    async def wait(self, timeout: Optional[float] = None) -> Optional[WatchEvent]:
        """The event once the watch fires, or None after `timeout` seconds."""
        return await self._core.wait(_timeout(timeout))  # type: ignore[no-any-return]

    @property
    def fired(self) -> bool:
        """True once the watch fired (or ended with an error)."""
        return self._core.fired


class WatchesMixin:
    """The blocking calls (mixed into `coord.Client`)."""

    _core: _coord.ClientCore

    def get_watch(self, path: str) -> Tuple[bytes, Stat, OneshotWatch]:
        """`(data, Stat, watch)`: the watch fires on the node's next data
        change or deletion (`NoNodeError`, and no watch, if it is missing)."""
        data, stat, core = _coord.get_watch(self._core, path).wait()
        return data, stat, OneshotWatch(core)

    def exists_watch(self, path: str) -> Tuple[Optional[Stat], OneshotWatch]:
        """`(Stat or None, watch)`: the watch fires when the node is created,
        changed or deleted."""
        stat, core = _coord.exists_watch(self._core, path).wait()
        return stat, OneshotWatch(core)

    def children_watch(self, path: str) -> Tuple[List[str], OneshotWatch]:
        """`(names, watch)`: the watch fires when a child is added or
        removed, or the node is deleted."""
        names, core = _coord.children_watch(self._core, path).wait()
        return names, OneshotWatch(core)

    def children_with_stats(self, path: str) -> Tuple[List[Tuple[str, Stat]], Stat]:
        """`([(name, Stat), ...], Stat of the node)`, children sorted by name."""
        return _coord.children_with_stats(self._core, path).wait()  # type: ignore[no-any-return]

    def remove_watches(self, path: str, kind: str = "any") -> None:
        """Removes this session's watches of `kind` (one of `WATCH_KINDS`)
        on `path`, here and on the server: waiting one-shot watches raise
        `CancelledError`, watch iterators end. `NoWatcherError` if none."""
        _coord.remove_watches(self._core, path, kind).wait()

    def state_changes(self) -> Updates[str]:
        """`for state in c.state_changes():` the session's state now
        (CONNECTING, CONNECTED, SUSPENDED, EXPIRED, CLOSED), then every
        change; ends after EXPIRED or CLOSED, or when closed."""
        return Updates(_coord.state_changes(self._core))

    def on_state_change(self, callback: Callable[[str], Any]) -> Subscription:
        """Calls `callback(state)` now and at every state change, from a
        background thread, until the returned subscription is closed."""
        return Subscription(_coord.state_changes(self._core), callback)


class AsyncWatchesMixin:
    """The asyncio calls (mixed into `coord.AsyncClient`)."""

    @property
    def _core(self) -> _coord.ClientCore:
        raise NotImplementedError  # pragma: no cover - AsyncClient's

    async def get_watch(self, path: str) -> Tuple[bytes, Stat, AsyncOneshotWatch]:
        """`(data, Stat, watch)`; see `Client.get_watch`."""
        data, stat, core = await _coord.get_watch(self._core, path)
        return data, stat, AsyncOneshotWatch(core)

    async def exists_watch(self, path: str) -> Tuple[Optional[Stat], AsyncOneshotWatch]:
        """`(Stat or None, watch)`; see `Client.exists_watch`."""
        stat, core = await _coord.exists_watch(self._core, path)
        return stat, AsyncOneshotWatch(core)

    async def children_watch(self, path: str) -> Tuple[List[str], AsyncOneshotWatch]:
        """`(names, watch)`; see `Client.children_watch`."""
        names, core = await _coord.children_watch(self._core, path)
        return names, AsyncOneshotWatch(core)

    async def children_with_stats(self, path: str) -> Tuple[List[Tuple[str, Stat]], Stat]:
        """`([(name, Stat), ...], Stat of the node)`, sorted by name."""
        return await _coord.children_with_stats(self._core, path)  # type: ignore[no-any-return]

    async def remove_watches(self, path: str, kind: str = "any") -> None:
        """Removes this session's watches of `kind`; see `Client.remove_watches`."""
        await _coord.remove_watches(self._core, path, kind)

    def state_changes(self) -> AsyncUpdates[str]:
        """`async for state in c.state_changes():` the state now, then every
        change; ends after EXPIRED or CLOSED."""
        return AsyncUpdates(_coord.state_changes(self._core))
