"""Group membership, blocking and asyncio: `c.group(path)` gives a `Group`
(`AsyncGroup`) to join with a payload, list the members or follow them;
joining gives a `Membership` (`AsyncMembership`) that leaves the group when
closed, at the end of its `with` block, or when its session ends.

A member is an ephemeral node `<group>/<name>` holding the payload, so a
member whose process dies leaves by itself. This module only adapts the
native recipe; it must not touch nodes itself.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from . import _coord
from ._streams import AsyncUpdates, Updates

Member = Tuple[str, bytes]
"""A member as listed: `(name, payload)`."""


class _MembershipState:
    """What a membership says of itself, blocking or asyncio alike (no I/O)."""

    def __init__(self, core: _coord.MembershipCore) -> None:
        self._core = core

    @property
    def name(self) -> str:
        """Our member name."""
        return self._core.name

    @property
    def node(self) -> str:
        """Full path of our member node."""
        return self._core.node

    @property
    def is_lost(self) -> bool:
        """True once the membership was lost (session expired, node deleted)."""
        return self._core.is_lost


class Membership(_MembershipState):
    """Our membership of a group (`c.group(path).join(name, payload)`).

    `with group.join("worker-1", b"10.0.0.5:80") as m:` is a member inside the
    block and leaves at its end; `leave()` (or `close()`) leaves at once.
    Keep a reference while you want to stay a member: a membership that is
    garbage-collected leaves the group in the background.
    If the session expires or someone deletes our node, `is_lost` turns True.
    """

    def update(self, payload: bytes) -> None:
        """Replaces our payload; watchers of the group see the change."""
        self._core.update(bytes(payload)).wait()

    def leave(self) -> None:
        """Leaves the group (deletes our node) and waits. Idempotent."""
        self._core.leave().wait()

    def close(self) -> None:
        """Same as `leave()`."""
        self.leave()

    def __enter__(self) -> "Membership":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.leave()


class Group:
    """The group at `path` (`c.group(path)`): a namespace, no server state
    of its own until somebody joins."""

    def __init__(self, client: _coord.ClientCore, path: str) -> None:
        self._client = client
        self.path = path
        """The group's path."""

    def join(self, name: str, payload: bytes = b"") -> Membership:
        """Joins as `name` (one path segment) with `payload`, creating the
        group's path if missing. `NodeExistsError` when another live session
        is a member under that name."""
        return Membership(_coord.group_join(self._client, self.path, name, bytes(payload)).wait())

    def members(self) -> List[Member]:
        """The members now, sorted by name: `[(name, payload), ...]` (empty
        when the group does not exist)."""
        return _coord.group_members(self._client, self.path).wait()  # type: ignore[no-any-return]

    def watch(self) -> Updates[List[Member]]:
        """`for members in group.watch():` the member list now, then after
        every join, leave or payload change; `close()` the iterator (or use
        `with`) to stop."""
        return Updates(_coord.group_watch(self._client, self.path))


class AsyncMembership(_MembershipState):
    """Our membership of a group, asyncio flavour (`await
    c.group(path).join(name, payload)`); `async with` leaves at the end."""

    async def update(self, payload: bytes) -> None:
        """Replaces our payload; watchers of the group see the change."""
        await self._core.update(bytes(payload))

    async def leave(self) -> None:
        """Leaves the group (deletes our node). Idempotent."""
        await self._core.leave()

    async def close(self) -> None:
        """Same as `leave()`."""
        await self.leave()

    async def __aenter__(self) -> "AsyncMembership":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.leave()


class AsyncGroup:
    """The group at `path`, asyncio flavour (`c.group(path)`)."""

    def __init__(self, client: _coord.ClientCore, path: str) -> None:
        self._client = client
        self.path = path
        """The group's path."""

    async def join(self, name: str, payload: bytes = b"") -> AsyncMembership:
        """Joins as `name` with `payload` (see `Group.join`). Cancelling the
        awaiting task removes the member node it may have created."""
        return AsyncMembership(await _coord.group_join(self._client, self.path, name, bytes(payload)))

    async def members(self) -> List[Member]:
        """The members now, sorted by name: `[(name, payload), ...]`."""
        return await _coord.group_members(self._client, self.path)  # type: ignore[no-any-return]

    def watch(self) -> AsyncUpdates[List[Member]]:
        """`async for members in group.watch():` the member list now, then
        after every change."""
        return AsyncUpdates(_coord.group_watch(self._client, self.path))
