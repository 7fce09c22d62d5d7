"""The blocking API: `coord.Client` and `coord.Transaction`; the handles
the client makes live in one module per concept (`_locks`, `_election`,
`_caches`, `_recipes`, `_discovery`, `_group`, `_watches`).

Every call waits with the GIL released and is interruptible by Ctrl-C
(KeyboardInterrupt cancels the operation; a lock or election node it had
created is deleted). Handles follow `threading` idioms: `acquire(blocking,
timeout)` / `release()` and `with` blocks.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Callable, List, Optional, Tuple

from . import _coord
from ._caches import DataWatch, NodeCache, TreeCache
from ._common import _Exc, _Ops, close_at_exit
from ._coord import Stat
from ._discovery import Discovery
from ._election import Election
from ._group import Group
from ._locks import Lock, MultiLock, RwLock, Semaphore
from ._recipes import Barrier, Counter, DoubleBarrier, Queue
from ._security import SecurityMixin, Tls, connect_args
from ._streams import Watch
from ._watches import WatchesMixin


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


__all__ = ["Client", "Transaction"]
