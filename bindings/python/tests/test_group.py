"""Group membership, sync and asyncio: join with a payload, list and follow
the members, leave at the end of a `with` block or when the session ends."""

from __future__ import annotations

import asyncio
import time

import pytest

import coord


def next_where(events, pred, limit=20):
    """The first member list from `events` that satisfies `pred` (bounded)."""
    for _ in range(limit):
        members = next(events)
        if pred(members):
            return members
    raise AssertionError(f"no member list matched within {limit} updates")


def test_members_see_joins_payloads_and_leaves(client, base, server):
    group = client.group(f"{base}/g")
    assert group.members() == []
    with group.join("a", b"10.0.0.1:80") as a:
        assert (a.name, a.node) == ("a", f"{base}/g/a")
        with coord.Client(server.address, session_timeout=5.0) as other:
            b = other.group(f"{base}/g").join("b", b"10.0.0.2:80")
            assert group.members() == [("a", b"10.0.0.1:80"), ("b", b"10.0.0.2:80")]
            b.update(b"10.0.0.2:81")
            assert group.members()[1] == ("b", b"10.0.0.2:81")
        # `other` closed: its member is gone with its session.
        assert group.members() == [("a", b"10.0.0.1:80")]
        assert not a.is_lost
    assert group.members() == []


def test_a_name_held_by_another_session_cannot_be_joined(client, base, server):
    held = client.group(f"{base}/g").join("a")
    with coord.Client(server.address, session_timeout=5.0) as other:
        with pytest.raises(coord.NodeExistsError):
            other.group(f"{base}/g").join("a")
        with pytest.raises(coord.BadArgumentsError):
            other.group(f"{base}/g").join("a/b")
    assert not held.is_lost


def test_a_membership_nobody_references_leaves_the_group(client, base):
    group = client.group(f"{base}/g")
    group.join("gone")
    deadline = time.monotonic() + 5
    while group.members() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert group.members() == []


def test_watch_yields_the_member_list_after_every_change(client, base):
    group = client.group(f"{base}/g")
    with group.watch() as events:
        assert next(events) == []
        m = group.join("a", b"1")
        assert next_where(events, lambda ms: ms != []) == [("a", b"1")]
        m.update(b"2")
        assert next_where(events, lambda ms: ms != [("a", b"1")]) == [("a", b"2")]
        m.leave()
        assert next_where(events, lambda ms: ms == []) == []
        m.leave()  # idempotent


def test_a_deleted_member_node_marks_the_membership_lost(client, base):
    m = client.group(f"{base}/g").join("a")
    client.delete(m.node)
    deadline = time.monotonic() + 5
    while not m.is_lost and time.monotonic() < deadline:
        time.sleep(0.02)
    assert m.is_lost


def test_async_group_join_members_watch_and_leave(server, base):
    async def main():
        async with coord.AsyncClient(server.address, session_timeout=5.0) as c:
            group = c.group(f"{base}/ag")
            async with group.watch() as events:
                assert await events.__anext__() == []
                async with await group.join("x", b"p") as m:
                    assert m.name == "x"
                    assert await group.members() == [("x", b"p")]
                    for _ in range(20):
                        if await asyncio.wait_for(events.__anext__(), 5) == [("x", b"p")]:
                            break
                    else:
                        raise AssertionError("the join was never reported")
                    await m.update(b"q")
                    assert await group.members() == [("x", b"q")]
                assert await group.members() == []

    asyncio.run(main())
