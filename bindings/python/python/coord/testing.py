"""Test helpers for code that uses coord.

`Server` runs a real coord server inside the test process, on a free port
of 127.0.0.1 with a temporary data directory (removed on stop). Sessions may
be as short as 0.2 s, so expiry and failover tests run fast.

Use it as a context manager, or as a pytest fixture::

    import pytest, coord.testing

    @pytest.fixture
    def coord_server():
        with coord.testing.Server() as server:
            yield server

    def test_something(coord_server):
        with coord.Client(coord_server.address) as c:
            ...

or simply `from coord.testing import coord_server` in a conftest.py.

The server is compiled into the package only with its `testing` feature
(the package's own test build turns it on); other builds raise at `Server()`.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from . import _coord


class Server:
    """An in-process coord server on a free port (started at construction)."""

    def __init__(self) -> None:
        core = getattr(_coord, "ServerCore", None)
        if core is None:
            raise RuntimeError(
                "this build of coord has no in-process server: build the package "
                "with the `testing` feature (maturin develop --features testing), "
                "or start `coord serve` and connect to it"
            )
        self._core = core()

    @property
    def address(self) -> str:
        """`host:port` to give `coord.Client`."""
        return self._core.address

    @property
    def data_dir(self) -> Optional[str]:
        """The temporary data directory, while running."""
        return self._core.data_dir

    def stop(self) -> None:
        """Stops the server and removes its data. Idempotent."""
        self._core.stop()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


try:  # the fixture exists only where pytest is installed
    import pytest

    @pytest.fixture
    def coord_server() -> Iterator[Server]:
        """A `Server` for one test."""
        with Server() as server:
            yield server

except ImportError:  # pragma: no cover
    pass

__all__ = ["Server"]
