"""Locks, blocking and asyncio: `Lock`, `RwLock`, `Semaphore`, `MultiLock`
and their `Async*` twins, made by `Client.lock` / `rwlock` / `semaphore` /
`multi_lock`. Handles follow `threading` idioms (`acquire(blocking,
timeout)`, `release()`, `with`); each wraps a native core handle and holds
no lock state of its own.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, List, Optional

from . import _coord
from ._coord import LockLost, LockTimeout
from ._common import _Exc, error
from ._streams import _timeout


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
