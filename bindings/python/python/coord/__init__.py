"""coord: a Python client of the coord coordination service.

Sync (`coord.Client`) and asyncio (`coord.AsyncClient`) APIs with the same
names: nodes, transactions, watches and caches, and the recipes (locks,
read-write locks, semaphores, multi-locks, elections, group membership,
barriers, queues, counters, service discovery). Every behaviour comes from
coord's Rust core (the native module `coord._coord`); this package adds
Python idioms.

Security: `Client(servers, tls=coord.Tls(ca=..., cert=..., key=...),
token=..., digest=("user", "password"))`; `whoami()`, ACLs (`coord.ACL`,
`get_acl` / `set_acl` / `create_with_acl`), quotas (`coord.Quota`) and
`lock_info(path)` (`coord.LockInfo`: who holds a lock and who waits).

Watches: persistent ones (`c.watch(path)`, an iterator of `WatchEvent`s),
one-shot ones set by a read (`get_watch`, `exists_watch`, `children_watch`:
a `OneshotWatch` to `wait()` on), `remove_watches`, and the session's state
changes (`state_changes()`, `on_state_change(callback)`).

Cancellation: every blocking call takes `timeout=` (seconds; iterators:
`next(timeout)`), and Ctrl-C interrupts it in sync code (KeyboardInterrupt);
in asyncio, cancelling the task that awaits a call cancels it. Either way a
node the call had created (a lock contender, a candidate, a member) is
deleted.

Errors: every exception is a `coord.CoordError`; there is one subclass per
error of the core's table (`NoNodeError`, `LockTimeout`, ...), each with the
stable `code` and `name` of the table and a `detail` saying what and where.
"""

from ._coord import ERROR_TABLE, Instance, Stat, WatchEvent
from ._coord import (  # generated from the core's error table (test_errors checks)
    CoordError,
    InternalError,
    RuntimeInconsistencyError,
    RolledBackError,
    ConnectionLossError,
    ProtocolError,
    UnimplementedError,
    OperationTimeoutError,
    BadArgumentsError,
    NotLeaderError,
    IoError,
    ClosedError,
    CancelledError,
    TooLargeError,
    InvalidPathError,
    UnknownError,
    ShuttingDownError,
    NoNodeError,
    NoAuthError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NotEmptyError,
    SessionExpiredError,
    InvalidAclError,
    AuthFailedError,
    SessionMovedError,
    NoWatcherError,
    LockTimeout,
    LockLost,
    NotHeldError,
    QuotaExceededError,
)
from ._async import AsyncClient, AsyncTransaction
from ._caches import AsyncNodeCache, AsyncTreeCache, DataWatch, NodeCache, TreeCache
from ._common import Subscription
from ._discovery import AsyncDiscovery, AsyncRegistration, Discovery, Registration
from ._election import AsyncElection, Election
from ._group import AsyncGroup, AsyncMembership, Group, Membership
from ._locks import (
    AsyncLock,
    AsyncMultiLock,
    AsyncRwLock,
    AsyncSemaphore,
    Lock,
    MultiLock,
    RwLock,
    Semaphore,
)
from ._recipes import (
    AsyncBarrier,
    AsyncCounter,
    AsyncDoubleBarrier,
    AsyncQueue,
    Barrier,
    Counter,
    DoubleBarrier,
    Queue,
)
from ._security import ACL, LockContender, LockInfo, Quota, Tls
from ._streams import AsyncUpdates, AsyncWatch, Updates, Watch
from ._sync import Client, Transaction
from ._watches import WATCH_KINDS, AsyncOneshotWatch, OneshotWatch

ERROR_TABLE = ERROR_TABLE
"""The core's error table, one tuple per error kind: `(code, kind, name,
message, class name)`, e.g. `(101, "NoNode", "NO_NODE", ..., "NoNodeError")`;
each kind has its exception class here (a `CoordError` subclass)."""

WATCH_KINDS = WATCH_KINDS
"""The watch kinds `Client.remove_watches` takes: `"data"` (one-shot data and
exists watches), `"children"` (one-shot children watches), `"persistent"`,
`"persistent_recursive"`, or `"any"` of them."""

__all__ = [
    "Client", "AsyncClient", "Stat", "WatchEvent", "Instance", "Subscription",
    "Tls", "ACL", "Quota", "LockInfo", "LockContender",
    "Lock", "RwLock", "Semaphore", "MultiLock", "Election", "Watch", "DataWatch",
    "NodeCache", "TreeCache", "Barrier", "DoubleBarrier", "Queue", "Counter",
    "Discovery", "Registration", "Transaction", "Group", "Membership",
    "OneshotWatch", "AsyncOneshotWatch", "WATCH_KINDS", "Updates", "AsyncUpdates",
    "AsyncLock", "AsyncRwLock", "AsyncSemaphore", "AsyncMultiLock", "AsyncElection",
    "AsyncWatch", "AsyncNodeCache", "AsyncTreeCache", "AsyncBarrier",
    "AsyncDoubleBarrier", "AsyncQueue", "AsyncCounter", "AsyncDiscovery",
    "AsyncRegistration", "AsyncTransaction", "AsyncGroup", "AsyncMembership", "ERROR_TABLE", "CoordError",
    "InternalError",
    "RuntimeInconsistencyError",
    "RolledBackError",
    "ConnectionLossError",
    "ProtocolError",
    "UnimplementedError",
    "OperationTimeoutError",
    "BadArgumentsError",
    "NotLeaderError",
    "IoError",
    "ClosedError",
    "CancelledError",
    "TooLargeError",
    "InvalidPathError",
    "UnknownError",
    "ShuttingDownError",
    "NoNodeError",
    "NoAuthError",
    "BadVersionError",
    "NoChildrenForEphemeralsError",
    "NodeExistsError",
    "NotEmptyError",
    "SessionExpiredError",
    "InvalidAclError",
    "AuthFailedError",
    "SessionMovedError",
    "NoWatcherError",
    "LockTimeout",
    "LockLost",
    "NotHeldError",
    "QuotaExceededError",
]
