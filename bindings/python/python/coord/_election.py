"""Leader election, blocking and asyncio: `Election` and `AsyncElection`
(`Client.election`): campaign, resign, the current leader and its changes.
Wraps the native election; keeps no state of its own.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Callable, Optional, TYPE_CHECKING

from . import _coord
from ._coord import LockLost
from ._common import _Exc, error, Subscription
from ._streams import AsyncUpdates, Updates, _timeout

if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._sync import Client


class Election:
    """A candidate in a leader election (`c.election(path, identity)`).

    `with e as token:` waits until elected and resigns at exit (raising
    `LockLost` if the term was lost inside the block). `leader()` tells the
    identity of the current leader; `on_change(cb)` calls `cb(identity or
    None)` at every change; `changes()` iterates over them.
    """

    def __init__(self, client: "Client", core: _coord.ElectionCore, path: str, identity: str, timeout: Optional[float]) -> None:
        self._client = client
        self._core = core
        self._timeout = _timeout(timeout)
        self.path = path
        """The election's path."""
        self.identity = identity
        """The identity this candidate campaigns with."""

    def campaign(self, timeout: Optional[float] = None) -> int:
        """Waits until elected (`LockTimeout` after `timeout` s); returns the
        term's fencing token."""
        return self._core.campaign(_timeout(timeout)).wait()  # type: ignore[no-any-return]

    def resign(self) -> None:
        """Gives up leadership (no-op when not leading)."""
        self._core.resign().wait()

    @property
    def is_leader(self) -> bool:
        """True while this candidate leads."""
        return self._core.is_leader

    def leader(self) -> Optional[str]:
        """The identity of the current leader, or None."""
        return _coord.election_leader(self._client._core, self.path).wait()  # type: ignore[no-any-return]

    def on_change(self, callback: Callable[[Optional[str]], Any]) -> Subscription:
        """Calls `callback(identity or None)` now and at each change of leader,
        from a background thread, until the returned subscription is closed."""
        return Subscription(_coord.election_observe(self._client._core, self.path), callback)

    def changes(self) -> Updates[Optional[str]]:
        """The leader's identity now, then at every change."""
        return Updates(_coord.election_observe(self._client._core, self.path))

    def __enter__(self) -> int:
        return self._core.campaign(self._timeout).wait()  # type: ignore[no-any-return]

    def __exit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        lost = self._core.is_lost
        self._core.resign().wait()
        if lost and et is None:
            raise error(LockLost, f"leadership of {self.path} was lost inside the with block")


class AsyncElection:
    """`async with e as token:` leads inside the block; `async for leader in
    e.changes():` follows the leader's identity."""

    def __init__(self, client: "AsyncClient", core: _coord.ElectionCore, path: str, identity: str, timeout: Optional[float]) -> None:
        self._client = client
        self._core = core
        self._timeout = _timeout(timeout)
        self.path = path
        """The election's path."""
        self.identity = identity
        """The identity this candidate campaigns with."""

    async def campaign(self, timeout: Optional[float] = None) -> int:
        """Waits until elected; returns the term's fencing token."""
        return await self._core.campaign(_timeout(timeout))  # type: ignore[no-any-return]

    async def resign(self) -> None:
        """Gives up leadership."""
        await self._core.resign()

    @property
    def is_leader(self) -> bool:
        """True while this candidate leads."""
        return self._core.is_leader

    async def leader(self) -> Optional[str]:
        """The identity of the current leader, or None."""
        return await _coord.election_leader(self._client._core, self.path)  # type: ignore[no-any-return]

    def changes(self) -> AsyncUpdates[Optional[str]]:
        """The leader's identity now, then at every change."""
        return AsyncUpdates(_coord.election_observe(self._client._core, self.path))

    async def __aenter__(self) -> int:
        return await self._core.campaign(self._timeout)  # type: ignore[no-any-return]

    async def __aexit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        lost = self._core.is_lost
        await self._core.resign()
        if lost and et is None:
            raise error(LockLost, f"leadership of {self.path} was lost inside the async with block")
