"""The blocking API: `coord.Client` and the recipe handles it makes.

Every call waits with the GIL released and is interruptible by Ctrl-C
(KeyboardInterrupt cancels the operation; a lock or election node it had
created is deleted). Handles follow `threading` idioms: `acquire(blocking,
timeout)` / `release()` and `with` blocks.
"""

from __future__ import annotations

import os
import threading
import uuid
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from . import _coord
from ._common import Subscription, _Ops, close_at_exit, error
from ._security import SecurityMixin, Tls, connect_args
from ._coord import CoordError, Instance, LockLost, LockTimeout, Stat, WatchEvent
from ._group import Group
from ._streams import Updates, Watch, _timeout
from ._watches import WatchesMixin

_Exc = Optional[Type[BaseException]]


class Lock:
    """A fair distributed mutex with fencing tokens (`c.lock(path)`).

    `with lock as token:` acquires (raising `LockTimeout` after the handle's
    timeout) and releases at exit; if the lock was lost inside the block
    (session expired, node deleted), the exit raises `LockLost`.
    `acquire(blocking=True, timeout=None) -> bool` and `release()` behave
    like `threading.Lock`'s. Re-entrant per handle (counted holds). The
    status (`token`, `is_lost`, `locked()`) answers at once, also while
    another thread waits in `acquire()` on this handle.
    """

    def __init__(self, core: _coord.LockCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)

    @property
    def path(self) -> str:
        """The lock's path."""
        return self._core.path

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Takes the lock; False when not blocking and taken, or on timeout."""
        if not blocking:
            return self._core.try_acquire().wait() is not None
        try:
            self._core.acquire(_timeout(timeout)).wait()
        except LockTimeout:
            return False
        return True

    def release(self) -> None:
        """Releases one hold (`NotHeldError` when not held)."""
        self._core.release().wait()

    @property
    def token(self) -> Optional[int]:
        """The fencing token of the current hold (strictly increasing between
        holders), or None when not held."""
        return self._core.token

    @property
    def is_lost(self) -> bool:
        """True once the current hold was lost."""
        return self._core.is_lost

    def locked(self) -> bool:
        """True while this handle holds the lock and has not lost it."""
        return self._core.is_held

    def __enter__(self) -> int:
        return self._core.acquire(self._timeout).wait()  # type: ignore[no-any-return]

    def __exit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        lost = self._core.is_lost
        self._core.release().wait()
        if lost and et is None:
            raise error(LockLost, f"{self.path} was lost inside the with block")


class RwLock:
    """A fair read-write lock: `with rw.read:` / `with rw.write:`."""

    def __init__(self, read: Lock, write: Lock) -> None:
        self.read = read
        """The shared side."""
        self.write = write
        """The exclusive side."""


class Semaphore:
    """At most `leases` holders at once (`c.semaphore(path, leases)`).
    `with sem as token:`, or `acquire()` / `release()` like
    `threading.Semaphore` (releases the newest lease of this handle); if the
    lease was lost inside the block (session expired, node deleted), the
    exit raises `LockLost`."""

    def __init__(self, core: _coord.SemaphoreCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)
        self._leases: List[_coord.LeaseCore] = []
        self._mutex = threading.Lock()

    @property
    def leases(self) -> int:
        """Number of slots."""
        return self._core.leases

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Takes a lease; False when not blocking and none is free, or on timeout."""
        if not blocking:
            lease = self._core.try_acquire().wait()
            if lease is None:
                return False
        else:
            try:
                lease = self._core.acquire(_timeout(timeout)).wait()
            except LockTimeout:
                return False
        with self._mutex:
            self._leases.append(lease)
        return True

    def release(self) -> None:
        """Gives back the newest lease taken through this handle."""
        with self._mutex:
            if not self._leases:
                raise error(_coord.NotHeldError, "this semaphore handle holds no lease")
            lease = self._leases.pop()
        lease.release().wait()

    @property
    def is_lost(self) -> bool:
        """True once the newest lease of this handle was lost (session
        expired or its node deleted by someone else). Answers at once."""
        with self._mutex:
            return bool(self._leases) and self._leases[-1].is_lost

    def __enter__(self) -> int:
        lease = self._core.acquire(self._timeout).wait()
        with self._mutex:
            self._leases.append(lease)
        return lease.token  # type: ignore[no-any-return]

    def __exit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        with self._mutex:
            newest = self._leases[-1] if self._leases else None
        lost = newest is not None and newest.is_lost
        self.release()
        if lost and et is None:
            raise error(LockLost, f"lease {newest.node} was lost inside the with block")


class MultiLock:
    """Several locks taken together, all or none (`c.multi_lock(paths)`).
    `with ml as tokens:` or `acquire()` / `release()`."""

    def __init__(self, core: _coord.MultiLockCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)

    def acquire(self, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        """Takes every lock; False on timeout (`blocking=False`: timeout 0)."""
        try:
            self._core.acquire(0.0 if not blocking else _timeout(timeout)).wait()
        except LockTimeout:
            return False
        return True

    def release(self) -> None:
        """Releases every lock."""
        self._core.release().wait()

    def __enter__(self) -> List[int]:
        return self._core.acquire(self._timeout).wait()  # type: ignore[no-any-return]

    def __exit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.release()


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


class TreeCache:
    """A local copy of a subtree (`c.tree_cache(path)`), kept up to date."""

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


class Barrier:
    """A barrier node (`c.barrier(path)`): `set()`, `remove()`, `wait()`."""

    def __init__(self, core: _coord.BarrierCore) -> None:
        self._core = core

    def set(self) -> None:
        """Raises the barrier."""
        self._core.set().wait()

    def remove(self) -> None:
        """Lowers the barrier, releasing every waiter."""
        self._core.remove().wait()

    def is_set(self) -> bool:
        """True while raised."""
        return bool(self._core.is_set().wait())

    def wait(self, timeout: Optional[float] = None) -> None:
        """Blocks until lowered (`OperationTimeoutError` after `timeout` s)."""
        self._core.wait(_timeout(timeout)).wait()


class DoubleBarrier:
    """A double barrier (`c.double_barrier(path, member_id, count)`):
    `with b:` enters (waits for `count` members) and leaves at exit."""

    def __init__(self, core: _coord.DoubleBarrierCore, timeout: Optional[float] = None) -> None:
        self._core = core
        self._timeout = _timeout(timeout)

    def enter(self, timeout: Optional[float] = None) -> None:
        """Enters; waits until every member has entered."""
        self._core.enter(_timeout(timeout)).wait()

    def leave(self, timeout: Optional[float] = None) -> None:
        """Leaves; waits until every member has left."""
        self._core.leave(_timeout(timeout)).wait()

    def __enter__(self) -> "DoubleBarrier":
        self.enter(self._timeout)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.leave(self._timeout)


class Queue:
    """A distributed FIFO queue of bytes (`c.queue(path)`)."""

    def __init__(self, core: _coord.QueueCore) -> None:
        self._core = core

    def put(self, data: bytes) -> str:
        """Appends an item; returns its node's path."""
        return self._core.put(bytes(data)).wait()  # type: ignore[no-any-return]

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Optional[bytes]:
        """Removes and returns the oldest item; waits when empty (None when
        `block=False` and empty; `OperationTimeoutError` after `timeout` s)."""
        if not block:
            return self._core.try_take().wait()  # type: ignore[no-any-return]
        return self._core.take(_timeout(timeout)).wait()  # type: ignore[no-any-return]

    def peek(self) -> Optional[bytes]:
        """The oldest item, left in place, or None."""
        return self._core.peek().wait()  # type: ignore[no-any-return]

    def __len__(self) -> int:
        return self._core.len().wait()  # type: ignore[no-any-return]


class Counter:
    """A distributed 64-bit counter (`c.counter(path)`)."""

    def __init__(self, core: _coord.CounterCore) -> None:
        self._core = core

    @property
    def value(self) -> int:
        """The current value (0 when the node does not exist)."""
        return self._core.get().wait()  # type: ignore[no-any-return]

    def add(self, delta: int = 1) -> int:
        """Adds `delta`; returns the new value."""
        return self._core.add(delta).wait()  # type: ignore[no-any-return]

    def set(self, value: int) -> None:
        """Sets the value."""
        self._core.set(value).wait()

    def compare_and_set(self, expected: int, new: int) -> bool:
        """Sets `new` only if the value is `expected`."""
        return bool(self._core.compare_and_set(expected, new).wait())


class Registration:
    """A registered service instance; `with` / `unregister()` removes it."""

    def __init__(self, core: _coord.RegistrationCore, instance: Instance) -> None:
        self._core = core
        self.instance = instance
        """The registered instance."""

    def update(self, instance: Instance) -> None:
        """Replaces the instance's data (same id)."""
        self._core.update(instance).wait()
        self.instance = instance

    @property
    def is_lost(self) -> bool:
        """True once the registration was lost with its session."""
        return bool(self._core.is_lost().wait())

    def unregister(self) -> None:
        """Removes the instance (again: no-op)."""
        self._core.unregister().wait()

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unregister()


class Discovery:
    """Service discovery under a base path (`c.discovery()`)."""

    def __init__(self, core: _coord.DiscoveryCore) -> None:
        self._core = core
        self._providers: Dict[Tuple[str, str], _coord.ProviderCore] = {}
        self._mutex = threading.Lock()

    def register(
        self,
        name: str,
        address: str,
        port: int,
        id: Optional[str] = None,
        metadata: Optional[Dict[str, str]] = None,
    ) -> Registration:
        """Registers an instance of service `name` for the life of the session."""
        inst = Instance(id or uuid.uuid4().hex, address, port, metadata)
        return Registration(self._core.register(name, inst).wait(), inst)

    def instances(self, name: str) -> List[Instance]:
        """The registered instances of `name` (read now)."""
        return self._core.instances(name).wait()  # type: ignore[no-any-return]

    def pick(self, name: str, strategy: str = "round_robin") -> Optional[Instance]:
        """An instance of `name` by `strategy` (`"round_robin"`, `"random"`,
        `"sticky"`), or None; follows the service from the first call on."""
        with self._mutex:
            p = self._providers.get((name, strategy))
            if p is None:
                p = self._core.provider(name, strategy).wait()
                self._providers[(name, strategy)] = p
        return p.pick()

    def close(self) -> None:
        """Stops following the services `pick` looked at."""
        with self._mutex:
            providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            p.close().wait()


class Transaction(_Ops):
    """`with c.transaction() as t:` collects ops and commits them atomically
    at exit (not if the block raised); `t.results` holds one result per op."""

    def __init__(self, client: "Client") -> None:
        super().__init__()
        self._client = client

    def commit(self) -> List[Any]:
        """Applies the ops atomically; returns their results."""
        self.results = self._client._core.multi(self.ops).wait()
        return self.results

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, et: _Exc, ev: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if et is None:
            self.commit()


class Client(SecurityMixin, WatchesMixin):
    """A blocking session with a coord ensemble.

    `servers` ("host:port,host:port") default to `$COORD_SERVERS` or
    127.0.0.1:2281; timeouts are in seconds. `with coord.Client() as c:`
    closes the session at exit (its ephemeral nodes go at once); clients
    left open are closed at interpreter exit. After `os.fork()` a client
    raises a clear `CoordError` in the child: create a new one there.

    Credentials: `tls=coord.Tls(ca=..., cert=..., key=..., server_name=...)`
    speaks TLS (a refused certificate raises `ConnectionLossError` saying
    why), `token=` presents a bearer token at connect, `digest=("user",
    "password")` adds ZooKeeper digest credentials to the session.
    """

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
        creds = connect_args(tls, token, digest)
        self._core: _coord.ClientCore = _coord.connect(servers, session_timeout, request_timeout, *creds).wait()
        self._pid = os.getpid()
        close_at_exit(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the session. Idempotent."""
        self._core.close().wait()

    def _close_at_exit(self) -> None:
        if os.getpid() == self._pid:
            self.close()

    @property
    def session_id(self) -> int:
        """The session id."""
        return self._core.session_id

    @property
    def session_timeout(self) -> float:
        """The negotiated session timeout, in seconds."""
        return self._core.session_timeout

    @property
    def state(self) -> str:
        """CONNECTING, CONNECTED, SUSPENDED, EXPIRED or CLOSED."""
        return self._core.state

    # ------------------------------------------------------------- nodes
    def create(
        self,
        path: str,
        data: bytes = b"",
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        ttl: Optional[float] = None,
        make_parents: bool = False,
    ) -> str:
        """Creates a node; returns its path (with the sequence suffix, if
        any). `ttl` in seconds; `make_parents` creates missing ancestors."""
        return self._core.create(path, bytes(data), ephemeral, sequential, container, ttl, make_parents).wait()  # type: ignore[no-any-return]

    def get(self, path: str) -> Tuple[bytes, Stat]:
        """`(data, Stat)` of a node (`NoNodeError` if missing)."""
        return self._core.get(path).wait()  # type: ignore[no-any-return]

    def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        """Replaces the data (`BadVersionError` unless `version` is -1 or
        matches); returns the new Stat."""
        return self._core.set(path, bytes(data), version).wait()  # type: ignore[no-any-return]

    def delete(self, path: str, version: int = -1) -> None:
        """Deletes a node."""
        self._core.delete(path, version).wait()

    def exists(self, path: str) -> Optional[Stat]:
        """The node's Stat, or None."""
        return self._core.exists(path).wait()  # type: ignore[no-any-return]

    def children(self, path: str) -> List[str]:
        """The names of the node's children, sorted."""
        return self._core.children(path).wait()  # type: ignore[no-any-return]

    def sync(self, path: str = "/") -> None:
        """Waits until the server has applied every earlier write."""
        self._core.sync(path).wait()

    def transaction(self) -> Transaction:
        """A transaction (multi) to use as a context manager."""
        return Transaction(self)

    # ----------------------------------------------------------- watches
    def watch(self, path: str, recursive: bool = False) -> Watch:
        """Iterates over the events on `path` (its subtree if `recursive`)."""
        return Watch(self._core.watch(path, recursive).wait())

    def data_watch(self, path: str, callback: Callable[[Optional[bytes], Optional[Stat]], Any]) -> DataWatch:
        """Calls `callback(data, stat)` now and after every change of `path`."""
        return DataWatch(_coord.node_cache(self._core, path).wait(), callback)

    def node_cache(self, path: str) -> NodeCache:
        """A node cache of `path`."""
        return NodeCache(_coord.node_cache(self._core, path).wait())

    def tree_cache(self, path: str) -> TreeCache:
        """A tree cache of the subtree at `path`."""
        return TreeCache(_coord.tree_cache(self._core, path).wait())

    # ----------------------------------------------------------- recipes
    def lock(self, path: str, timeout: Optional[float] = None) -> Lock:
        """A mutex on `path` (`timeout`: for `with`)."""
        return Lock(_coord.lock(self._core, path), timeout)

    def rwlock(self, path: str, timeout: Optional[float] = None) -> RwLock:
        """A read-write lock on `path`."""
        read, write = _coord.rwlock(self._core, path)
        return RwLock(Lock(read, timeout), Lock(write, timeout))

    def semaphore(self, path: str, leases: int, timeout: Optional[float] = None) -> Semaphore:
        """A semaphore of `leases` slots on `path`."""
        return Semaphore(_coord.semaphore(self._core, path, leases), timeout)

    def multi_lock(self, paths: List[str], timeout: Optional[float] = None) -> MultiLock:
        """A lock over every path in `paths`, all or none."""
        return MultiLock(_coord.multi_lock(self._core, list(paths)), timeout)

    def election(self, path: str, identity: Optional[str] = None, timeout: Optional[float] = None) -> Election:
        """A candidate in the election at `path` (identity: default host:pid)."""
        ident = identity if identity is not None else f"{os.uname().nodename}:{os.getpid()}"
        return Election(self, _coord.election(self._core, path, ident), path, ident, timeout)

    def barrier(self, path: str) -> Barrier:
        """The barrier at `path`."""
        return Barrier(_coord.barrier(self._core, path))

    def double_barrier(self, path: str, member_id: str, count: int, timeout: Optional[float] = None) -> DoubleBarrier:
        """Member `member_id` of the double barrier of `count` at `path`."""
        return DoubleBarrier(_coord.double_barrier(self._core, path, member_id, count), timeout)

    def queue(self, path: str) -> Queue:
        """The queue at `path`."""
        return Queue(_coord.queue(self._core, path))

    def counter(self, path: str) -> Counter:
        """The counter at `path`."""
        return Counter(_coord.counter(self._core, path))

    def discovery(self, base: str = "/services") -> Discovery:
        """Service discovery under `base`."""
        return Discovery(_coord.discovery(self._core, base))

    def group(self, path: str) -> Group:
        """The membership group at `path` (join, members, watch)."""
        return Group(self._core, path)


__all__ = [
    "Client", "Lock", "RwLock", "Semaphore", "MultiLock", "Election", "Watch",
    "NodeCache", "TreeCache", "DataWatch", "Barrier", "DoubleBarrier", "Queue",
    "Counter", "Discovery", "Registration", "Transaction", "CoordError",
]
