"""Shared fixtures: one in-process server per test module, a client on it."""

from __future__ import annotations

import itertools
from typing import Iterator

import pytest

import coord
import coord.testing

_ids = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[coord.testing.Server]:
    with coord.testing.Server() as s:
        yield s


@pytest.fixture
def client(server: coord.testing.Server) -> Iterator[coord.Client]:
    with coord.Client(server.address, session_timeout=5.0) as c:
        yield c


@pytest.fixture
def base(client: coord.Client) -> str:
    """A fresh path for one test."""
    path = f"/t{next(_ids)}"
    client.create(path)
    return path
