"""The asyncio API: `coord.AsyncClient` and `coord.AsyncTransaction`, with
the names of the blocking API (the handles live with their blocking twins). Operations run on coord's own runtime and complete
asyncio futures on the running loop, which never blocks. Cancelling the
awaiting task cancels the operation (a lock node it created is deleted).
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, List, Optional, Tuple

from . import _coord
from ._caches import AsyncNodeCache, AsyncTreeCache
from ._common import _Exc, _Ops, close_at_exit, error
from ._coord import Stat
from ._discovery import AsyncDiscovery
from ._election import AsyncElection
from ._group import AsyncGroup
from ._locks import AsyncLock, AsyncMultiLock, AsyncRwLock, AsyncSemaphore
from ._recipes import AsyncBarrier, AsyncCounter, AsyncDoubleBarrier, AsyncQueue
from ._security import AsyncSecurityMixin, Tls, connect_args
from ._streams import AsyncWatch
from ._watches import AsyncWatchesMixin


class AsyncTransaction(_Ops):
    """`async with c.transaction() as t:` commits the ops at exit."""

    def __init__(self, client: "AsyncClient") -> None:
        super().__init__()
        self._client = client

    async def commit(self) -> List[Any]:
        """Applies the ops atomically; returns their results."""
        self.results = await self._client._core.multi(self.ops)
        return self.results

    async def __aenter__(self) -> "AsyncTransaction":
        return self

    async def __aexit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if et is None:
            await self.commit()


class AsyncClient(AsyncSecurityMixin, AsyncWatchesMixin):
    """An asyncio session with a coord ensemble: `async with
    coord.AsyncClient() as c:` (or `await c.connect()`), then the methods of
    `coord.Client` as coroutines; `tls=`, `token=` and `digest=` as for
    `coord.Client`."""

    def __init__(
        self,
        servers: Optional[str] = None,
        session_timeout: float = 10.0,
        request_timeout: Optional[float] = None,
        *,
        tls: Optional[Tls] = None,
        token: Optional[str] = None,
        digest: Optional[Tuple[str, str]] = None,
    ) -> None:
        self._args = (servers, session_timeout, request_timeout, *connect_args(tls, token, digest))
        self._core_: Optional[_coord.ClientCore] = None
        self._pid = os.getpid()

    @property
    def _core(self) -> _coord.ClientCore:
        if self._core_ is None:
            raise error(_coord.ClosedError, "the AsyncClient is not connected: use `async with` or `await c.connect()`")
        return self._core_

    async def connect(self) -> "AsyncClient":
        """Opens the session (once)."""
        if self._core_ is None:
            self._core_ = await _coord.connect(*self._args)
            close_at_exit(self)
        return self

    async def __aenter__(self) -> "AsyncClient":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the session. Idempotent."""
        if self._core_ is not None:
            await self._core_.close()

    def _close_at_exit(self) -> None:
        if self._core_ is not None and os.getpid() == self._pid:
            self._core_.close().wait()

    @property
    def session_id(self) -> int:
        """The session id."""
        return self._core.session_id

    @property
    def state(self) -> str:
        """CONNECTING, CONNECTED, SUSPENDED, EXPIRED or CLOSED."""
        return self._core.state

    async def create(self, path: str, data: bytes = b"", ephemeral: bool = False, sequential: bool = False, container: bool = False, ttl: Optional[float] = None, make_parents: bool = False) -> str:
        """Creates a node; returns its path."""
        return await self._core.create(path, bytes(data), ephemeral, sequential, container, ttl, make_parents)  # type: ignore[no-any-return]

    async def get(self, path: str) -> Tuple[bytes, Stat]:
        """`(data, Stat)` of a node."""
        return await self._core.get(path)  # type: ignore[no-any-return]

    async def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        """Replaces the data; returns the new Stat."""
        return await self._core.set(path, bytes(data), version)  # type: ignore[no-any-return]

    async def delete(self, path: str, version: int = -1) -> None:
        """Deletes a node."""
        await self._core.delete(path, version)

    async def exists(self, path: str) -> Optional[Stat]:
        """The node's Stat, or None."""
        return await self._core.exists(path)  # type: ignore[no-any-return]

    async def children(self, path: str) -> List[str]:
        """The names of the node's children, sorted."""
        return await self._core.children(path)  # type: ignore[no-any-return]

    async def sync(self, path: str = "/") -> None:
        """Waits until the server has applied every earlier write."""
        await self._core.sync(path)

    def transaction(self) -> AsyncTransaction:
        """A transaction to use with `async with`."""
        return AsyncTransaction(self)

    def watch(self, path: str, recursive: bool = False) -> AsyncWatch:
        """`async for event in c.watch(path):`."""
        return AsyncWatch(self._core.watch(path, recursive))

    async def node_cache(self, path: str) -> AsyncNodeCache:
        """A node cache of `path`."""
        return AsyncNodeCache(await _coord.node_cache(self._core, path))

    async def tree_cache(self, path: str) -> AsyncTreeCache:
        """A tree cache of the subtree at `path`."""
        return AsyncTreeCache(await _coord.tree_cache(self._core, path))

    def lock(self, path: str, timeout: Optional[float] = None) -> AsyncLock:
        """A mutex on `path`."""
        return AsyncLock(_coord.lock(self._core, path), timeout)

    def rwlock(self, path: str, timeout: Optional[float] = None) -> AsyncRwLock:
        """A read-write lock on `path`."""
        read, write = _coord.rwlock(self._core, path)
        return AsyncRwLock(AsyncLock(read, timeout), AsyncLock(write, timeout))

    def semaphore(self, path: str, leases: int, timeout: Optional[float] = None) -> AsyncSemaphore:
        """A semaphore of `leases` slots."""
        return AsyncSemaphore(_coord.semaphore(self._core, path, leases), timeout)

    def multi_lock(self, paths: List[str], timeout: Optional[float] = None) -> AsyncMultiLock:
        """A lock over every path, all or none."""
        return AsyncMultiLock(_coord.multi_lock(self._core, list(paths)), timeout)

    def election(self, path: str, identity: Optional[str] = None, timeout: Optional[float] = None) -> AsyncElection:
        """A candidate in the election at `path`."""
        ident = identity if identity is not None else f"{os.uname().nodename}:{os.getpid()}"
        return AsyncElection(self, _coord.election(self._core, path, ident), path, ident, timeout)

    def barrier(self, path: str) -> AsyncBarrier:
        """The barrier at `path`."""
        return AsyncBarrier(_coord.barrier(self._core, path))

    def double_barrier(self, path: str, member_id: str, count: int, timeout: Optional[float] = None) -> AsyncDoubleBarrier:
        """Member `member_id` of a double barrier of `count`."""
        return AsyncDoubleBarrier(_coord.double_barrier(self._core, path, member_id, count), timeout)

    def queue(self, path: str) -> AsyncQueue:
        """The queue at `path`."""
        return AsyncQueue(_coord.queue(self._core, path))

    def counter(self, path: str) -> AsyncCounter:
        """The counter at `path`."""
        return AsyncCounter(_coord.counter(self._core, path))

    def discovery(self, base: str = "/services") -> AsyncDiscovery:
        """Service discovery under `base`."""
        return AsyncDiscovery(_coord.discovery(self._core, base))

    def group(self, path: str) -> AsyncGroup:
        """The membership group at `path` (join, members, watch)."""
        return AsyncGroup(self._core, path)


__all__ = ["AsyncClient", "AsyncTransaction"]
