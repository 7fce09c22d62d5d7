"""The asyncio API: `coord.AsyncClient` and its handles, with the names of
the blocking API. Operations run on coord's own runtime and complete
asyncio futures on the running loop, which never blocks. Cancelling the
awaiting task cancels the operation (a lock node it created is deleted).
"""

from __future__ import annotations

import os
import uuid
from types import TracebackType
from typing import Any, Dict, List, Optional, Tuple, Type

from . import _coord
from ._common import _Ops, close_at_exit, error
from ._security import AsyncSecurityMixin, Tls, connect_args
from ._coord import Instance, LockLost, LockTimeout, Stat, WatchEvent
from ._group import AsyncGroup
from ._streams import AsyncUpdates, AsyncWatch, _timeout
from ._watches import AsyncWatchesMixin

_Exc = Optional[Type[BaseException]]


class AsyncLock:
    """`async with c.lock(path) as token:`; `await acquire(blocking,
    timeout) -> bool`, `await release()`; `LockLost` at exit if lost.
    The status (`token`, `is_lost`, `locked()`) is read at once, without
    awaiting, also while an acquire of this handle waits."""

    def __init__(self, core: _coord.LockCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)

    @property
    def path(self) -> str:
        """The lock's path."""
        return self._core.path

    async def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Takes the lock; False when not blocking and taken, or on timeout."""
        if not blocking:
            return (await self._core.try_acquire()) is not None
        try:
            await self._core.acquire(_timeout(timeout))
        except LockTimeout:
            return False
        return True

    async def release(self) -> None:
        """Releases one hold."""
        await self._core.release()

    @property
    def token(self) -> Optional[int]:
        """The fencing token of the current hold, or None."""
        return self._core.token

    @property
    def is_lost(self) -> bool:
        """True once the current hold was lost."""
        return self._core.is_lost

    def locked(self) -> bool:
        """True while held and not lost."""
        return self._core.is_held

    async def __aenter__(self) -> int:
        return await self._core.acquire(self._timeout)  # type: ignore[no-any-return]

    async def __aexit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        lost = self._core.is_lost
        await self._core.release()
        if lost and et is None:
            raise error(LockLost, f"{self.path} was lost inside the async with block")


class AsyncRwLock:
    """`async with rw.read:` / `async with rw.write:`."""

    def __init__(self, read: AsyncLock, write: AsyncLock) -> None:
        self.read = read
        """The shared side."""
        self.write = write
        """The exclusive side."""


class AsyncSemaphore:
    """`async with sem as token:`; `await acquire()` / `await release()`;
    `LockLost` at exit if the lease was lost inside the block."""

    def __init__(self, core: _coord.SemaphoreCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)
        self._leases: List[_coord.LeaseCore] = []

    async def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Takes a lease; False when not blocking and none is free, or on timeout."""
        if not blocking:
            lease = await self._core.try_acquire()
            if lease is None:
                return False
        else:
            try:
                lease = await self._core.acquire(_timeout(timeout))
            except LockTimeout:
                return False
        self._leases.append(lease)
        return True

    async def release(self) -> None:
        """Gives back the newest lease of this handle."""
        if not self._leases:
            raise error(_coord.NotHeldError, "this semaphore handle holds no lease")
        await self._leases.pop().release()

    @property
    def is_lost(self) -> bool:
        """True once the newest lease of this handle was lost (session
        expired or its node deleted by someone else). Read at once."""
        return bool(self._leases) and self._leases[-1].is_lost

    async def __aenter__(self) -> int:
        lease = await self._core.acquire(self._timeout)
        self._leases.append(lease)
        return lease.token  # type: ignore[no-any-return]

    async def __aexit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        newest = self._leases[-1] if self._leases else None
        lost = newest is not None and newest.is_lost
        await self.release()
        if lost and et is None:
            raise error(LockLost, f"lease {newest.node} was lost inside the async with block")


class AsyncMultiLock:
    """`async with ml as tokens:` over several locks, all or none."""

    def __init__(self, core: _coord.MultiLockCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)

    async def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Takes every lock; False on timeout."""
        try:
            await self._core.acquire(0.0 if not blocking else _timeout(timeout))
        except LockTimeout:
            return False
        return True

    async def release(self) -> None:
        """Releases every lock."""
        await self._core.release()

    async def __aenter__(self) -> List[int]:
        return await self._core.acquire(self._timeout)  # type: ignore[no-any-return]

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()


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


class AsyncTreeCache:
    """A local copy of a subtree, kept up to date."""

    def __init__(self, core: _coord.TreeCacheCore) -> None:
        self._core = core

    def get(self, path: str) -> Optional[Tuple[bytes, Stat]]:
        """`(data, Stat)` of a cached node, or None."""
        return self._core.get(path)

    def children(self, path: str) -> Dict[str, Tuple[bytes, Stat]]:
        """`{name: (data, Stat)}` of the children of `path`."""
        return self._core.children(path)

    def snapshot(self) -> Dict[str, Tuple[bytes, Stat]]:
        """Every cached node."""
        return self._core.snapshot()

    def __len__(self) -> int:
        return len(self._core)

    async def close(self) -> None:
        """Stops following the subtree."""
        await self._core.close()


class AsyncBarrier:
    """A barrier node."""

    def __init__(self, core: _coord.BarrierCore) -> None:
        self._core = core

    async def set(self) -> None:
        """Raises the barrier."""
        await self._core.set()

    async def remove(self) -> None:
        """Lowers the barrier."""
        await self._core.remove()

    async def is_set(self) -> bool:
        """True while raised."""
        return bool(await self._core.is_set())

    async def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until lowered."""
        await self._core.wait(_timeout(timeout))


class AsyncDoubleBarrier:
    """`async with b:` enters and leaves a double barrier."""

    def __init__(self, core: _coord.DoubleBarrierCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)

    async def enter(self, timeout: Optional[float] = None) -> None:
        """Enters; waits for every member."""
        await self._core.enter(_timeout(timeout))

    async def leave(self, timeout: Optional[float] = None) -> None:
        """Leaves; waits for every member."""
        await self._core.leave(_timeout(timeout))

    async def __aenter__(self) -> "AsyncDoubleBarrier":
        await self.enter(self._timeout)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.leave(self._timeout)


class AsyncQueue:
    """A distributed FIFO queue of bytes."""

    def __init__(self, core: _coord.QueueCore) -> None:
        self._core = core

    async def put(self, data: bytes) -> str:
        """Appends an item; returns its node's path."""
        return await self._core.put(bytes(data))  # type: ignore[no-any-return]

    async def get(self, block: bool = True, timeout: Optional[float] = None) -> Optional[bytes]:
        """Removes and returns the oldest item."""
        if not block:
            return await self._core.try_take()  # type: ignore[no-any-return]
        return await self._core.take(_timeout(timeout))  # type: ignore[no-any-return]

    async def peek(self) -> Optional[bytes]:
        """The oldest item, left in place, or None."""
        return await self._core.peek()  # type: ignore[no-any-return]

    async def len(self) -> int:
        """Number of items."""
        return await self._core.len()  # type: ignore[no-any-return]


class AsyncCounter:
    """A distributed 64-bit counter."""

    def __init__(self, core: _coord.CounterCore) -> None:
        self._core = core

    async def get(self) -> int:
        """The current value."""
        return await self._core.get()  # type: ignore[no-any-return]

    async def add(self, delta: int = 1) -> int:
        """Adds `delta`; returns the new value."""
        return await self._core.add(delta)  # type: ignore[no-any-return]

    async def set(self, value: int) -> None:
        """Sets the value."""
        await self._core.set(value)

    async def compare_and_set(self, expected: int, new: int) -> bool:
        """Sets `new` only if the value is `expected`."""
        return bool(await self._core.compare_and_set(expected, new))


class AsyncRegistration:
    """A registered service instance."""

    def __init__(self, core: _coord.RegistrationCore, instance: Instance) -> None:
        self._core = core
        self.instance = instance
        """The registered instance."""

    async def unregister(self) -> None:
        """Removes the instance."""
        await self._core.unregister()

    async def __aenter__(self) -> "AsyncRegistration":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.unregister()


class AsyncDiscovery:
    """Service discovery under a base path."""

    def __init__(self, core: _coord.DiscoveryCore) -> None:
        self._core = core
        self._providers: Dict[Tuple[str, str], _coord.ProviderCore] = {}

    async def register(self, name: str, address: str, port: int, id: Optional[str] = None, metadata: Optional[Dict[str, str]] = None) -> AsyncRegistration:
        """Registers an instance of service `name`."""
        inst = Instance(id or uuid.uuid4().hex, address, port, metadata)
        return AsyncRegistration(await self._core.register(name, inst), inst)

    async def instances(self, name: str) -> List[Instance]:
        """The registered instances of `name`."""
        return await self._core.instances(name)  # type: ignore[no-any-return]

    async def pick(self, name: str, strategy: str = "round_robin") -> Optional[Instance]:
        """An instance of `name` by `strategy`, or None."""
        p = self._providers.get((name, strategy))
        if p is None:
            p = await self._core.provider(name, strategy)
            self._providers[(name, strategy)] = p
        return p.pick()

    async def close(self) -> None:
        """Stops following the services `pick` looked at."""
        providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            await p.close()


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


__all__ = ["AsyncClient"]
