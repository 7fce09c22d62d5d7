"""coord: a Python client of the coord coordination service.

Sync (`coord.Client`) and asyncio (`coord.AsyncClient`) APIs with the same
names: nodes, transactions, watches and caches, and the recipes (locks,
read-write locks, semaphores, multi-locks, elections, barriers, queues,
counters, service discovery, group membership). Every behaviour comes from coord's Rust core
(the native module `coord._coord`); this package adds Python idioms.

Security: `Client(servers, tls=coord.Tls(ca=..., cert=..., key=...),
token=..., digest=("user", "password"))`; `whoami()`, ACLs (`coord.ACL`,
`get_acl` / `set_acl` / `create_with_acl`), quotas (`coord.Quota`) and
`lock_info(path)` (`coord.LockInfo`: who holds a lock and who waits).

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
from ._async import (
    AsyncBarrier,
    AsyncClient,
    AsyncCounter,
    AsyncDiscovery,
    AsyncDoubleBarrier,
    AsyncElection,
    AsyncLock,
    AsyncMultiLock,
    AsyncNodeCache,
    AsyncQueue,
    AsyncRegistration,
    AsyncRwLock,
    AsyncSemaphore,
    AsyncTransaction,
    AsyncTreeCache,
    AsyncWatch,
)
from ._common import Subscription
from ._group import AsyncGroup, AsyncMembership, Group, Membership
from ._watches import WATCH_KINDS, AsyncOneshotWatch, OneshotWatch
from ._security import ACL, LockContender, LockInfo, Quota, Tls
from ._sync import (
    Barrier,
    Client,
    Counter,
    DataWatch,
    Discovery,
    DoubleBarrier,
    Election,
    Lock,
    MultiLock,
    NodeCache,
    Queue,
    Registration,
    RwLock,
    Semaphore,
    TreeCache,
    Transaction,
    Watch,
)

__all__ = [
    "Client", "AsyncClient", "Stat", "WatchEvent", "Instance", "Subscription",
    "Tls", "ACL", "Quota", "LockInfo", "LockContender",
    "Lock", "RwLock", "Semaphore", "MultiLock", "Election", "Watch", "DataWatch",
    "NodeCache", "TreeCache", "Barrier", "DoubleBarrier", "Queue", "Counter",
    "Discovery", "Registration", "Transaction", "Group", "Membership",
    "OneshotWatch", "AsyncOneshotWatch", "WATCH_KINDS",
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
