"""Helpers shared by the sync and asyncio layers: op descriptions for
transactions, background threads that feed callbacks, clean-up at exit.

Nothing here speaks the protocol or runs a recipe; that is the native core's.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Any, Callable, List, Optional, Tuple, Type

from . import _coord
from ._coord import CoordError, Stream

_Exc = Optional[Type[BaseException]]
"""The exception type `__exit__` receives."""


OpSpec = Tuple[Any, ...]


def error(cls: type, detail: str) -> CoordError:
    """An instance of the coord exception `cls`, formatted as the core does."""
    try:
        _coord.raise_error(cls.code, detail)  # type: ignore[attr-defined]
    except CoordError as e:
        return e
    raise AssertionError("raise_error did not raise")  # pragma: no cover


class _Ops:
    """The ops of a transaction, described for the native `multi`."""

    def __init__(self) -> None:
        self.ops: List[OpSpec] = []
        """The operations added so far, in order (as sent to the server)."""
        self.results: Optional[List[Any]] = None
        """One result per operation once committed (None before)."""

    def create(
        self,
        path: str,
        data: bytes = b"",
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        ttl: Optional[float] = None,
    ) -> None:
        """Adds a create (result: the created path)."""
        self.ops.append(("create", path, bytes(data), ephemeral, sequential, container, ttl))

    def delete(self, path: str, version: int = -1) -> None:
        """Adds a delete (result: None)."""
        self.ops.append(("delete", path, version))

    def set(self, path: str, data: bytes, version: int = -1) -> None:
        """Adds a data change (result: the new Stat)."""
        self.ops.append(("set", path, bytes(data), version))

    def check(self, path: str, version: int = -1) -> None:
        """Adds a version check (result: None); the transaction fails unless
        the node exists with this version (-1: any)."""
        self.ops.append(("check", path, version))


class Subscription:
    """A callback fed from a native stream by a daemon thread. `close()`
    stops it; it also stops when the stream ends (client closed, session
    expired). Exceptions raised by the callback are printed and ignored."""

    def __init__(self, stream: Stream, callback: Callable[..., Any], star: bool = False) -> None:
        self._stream = stream
        self._callback = callback
        self._star = star
        self._thread = threading.Thread(target=self._run, name="coord-callback", daemon=True)
        _subscriptions.add(self)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._stream.next().wait()
            except CoordError:
                return
            if item is None:
                return
            try:
                if self._star:
                    self._callback(*item[0])
                else:
                    self._callback(item[0])
            except Exception:  # noqa: BLE001 - a callback must not kill the feed
                import traceback

                traceback.print_exc()

    def close(self, timeout: float = 5.0) -> None:
        """Stops feeding the callback and waits (bounded) for the thread."""
        self._stream.close()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def active(self) -> bool:
        """True while the callback is being fed."""
        return self._thread.is_alive()


_subscriptions: "weakref.WeakSet[Subscription]" = weakref.WeakSet()
_closers: "weakref.WeakSet[Any]" = weakref.WeakSet()


def close_at_exit(obj: Any) -> None:
    """Registers a client to be closed at interpreter exit."""
    _closers.add(obj)


@atexit.register
def _close_everything() -> None:
    # Stop callback threads first: a daemon thread blocked in native code
    # must not be running when the interpreter finalizes.
    for sub in list(_subscriptions):
        try:
            sub.close(1.0)
        except Exception:  # noqa: BLE001
            pass
    for obj in list(_closers):
        try:
            obj._close_at_exit()
        except Exception:  # noqa: BLE001
            pass
