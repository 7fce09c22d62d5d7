"""Streams of results: the blocking iterator (`Watch` and the others of
`coord.Client`) and the async one (`AsyncWatch`, ...), over the native
`Stream` (`Updates`, `AsyncUpdates`); and the `timeout=` convention every blocking call shares. Owns no
recipe: the recipe modules build their iterators from these.
"""

from __future__ import annotations

from typing import Any, Generic, Optional, TypeVar

from . import _coord
from ._coord import WatchEvent


T = TypeVar("T")


def _timeout(timeout: Optional[float]) -> Optional[float]:
    """`threading` convention: None or a negative timeout waits forever."""
    return None if timeout is None or timeout < 0 else float(timeout)


class Updates(Generic[T]):
    """A blocking iterator over a sequence of updates (watch events, leader
    changes, member lists, session states); a context manager that closes it.
    `next(timeout)` waits for one update at most `timeout` seconds.

    The end means the same in Python, Node and C: after `close()` no further
    item is returned, not even one that had already arrived, and the `for`
    loop simply ends. Closing the client ends it the same way, without an
    error. If the session expires, iteration raises `SessionExpiredError`
    once, then ends."""

    def __init__(self, stream: _coord.Stream) -> None:
        self._stream = stream

    def __iter__(self) -> "Updates[T]":
        return self

    def __next__(self) -> T:
        return self.next()

    def next(self, timeout: Optional[float] = None) -> T:
        """The next item, waiting at most `timeout` seconds (None: no limit):
        `OperationTimeoutError` (a `TimeoutError`) when none came in time (a
        later call still gets it), `StopIteration` once the stream ended.
        Ctrl-C interrupts the wait."""
        item = self._stream.next(_timeout(timeout)).wait()
        if item is None:
            raise StopIteration
        return item[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stops the iteration (and removes its watch): no item after this;
        a `next()` waiting in another thread ends the loop."""
        self._stream.close()

    def __enter__(self) -> "Updates[T]":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Watch(Updates[WatchEvent]):
    """`for event in c.watch(path):` every `WatchEvent` on the path (or the
    subtree with `recursive=True`), in zxid order, until closed."""



class AsyncUpdates(Generic[T]):
    """An async iterator over a sequence of updates (watch events, leader
    changes, member lists, session states); `async with` closes it.
    `await next(timeout)` waits for one update at most `timeout` seconds.

    The end means the same in Python, Node and C: after `close()` no further
    item is returned, not even one that had already arrived, and the `async
    for` loop simply ends. Closing the client ends it the same way, without
    an error. If the session expires, iteration raises `SessionExpiredError`
    once, then ends."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __aiter__(self) -> "AsyncUpdates[T]":
        return self

    async def __anext__(self) -> T:
        return await self.next()

    async def next(self, timeout: Optional[float] = None) -> T:
        """The next item, waiting at most `timeout` seconds (None: no limit):
        `OperationTimeoutError` (a `TimeoutError`) when none came in time (a
        later call still gets it), `StopAsyncIteration` once the stream
        ended. Cancelling the awaiting task loses no item."""
        if not isinstance(self._stream, _coord.Stream):
            self._stream = await self._stream
        item = await self._stream.next(_timeout(timeout))
        if item is None:
            raise StopAsyncIteration
        return item[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stops the iteration (and removes its watch): no item after this;
        a waiting `__anext__` ends the loop."""
        if isinstance(self._stream, _coord.Stream):
            self._stream.close()

    async def __aenter__(self) -> "AsyncUpdates[T]":
        if not isinstance(self._stream, _coord.Stream):
            self._stream = await self._stream
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class AsyncWatch(AsyncUpdates[WatchEvent]):
    """`async for event in c.watch(path):`. The watch is set at the first
    iteration (or at `async with`, to be sure no event is missed)."""
