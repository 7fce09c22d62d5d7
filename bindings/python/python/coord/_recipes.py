"""The small recipes, blocking and asyncio: `Barrier`, `DoubleBarrier`,
`Queue`, `Counter` and their `Async*` twins (`Client.barrier`,
`double_barrier`, `queue`, `counter`). Each wraps a native handle.
"""

from __future__ import annotations

from typing import Any, Optional

from . import _coord
from ._streams import _timeout


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
