"""One-shot watches, watch removal, session state changes and children with
stats, sync and asyncio (the node-level features of the Rust client)."""

from __future__ import annotations

import asyncio
import queue
import time

import pytest

import coord


def test_get_watch_fires_once_on_the_next_data_change(client, base):
    client.create(f"{base}/n", b"1")
    data, stat, w = client.get_watch(f"{base}/n")
    assert (data, stat.version) == (b"1", 0)
    assert w.wait(timeout=0.2) is None and not w.fired
    client.set(f"{base}/n", b"2")
    event = w.wait(timeout=5)
    assert (event.type, event.path) == ("CHANGED", f"{base}/n")
    assert w.fired and w.wait() == event  # the same event again
    with pytest.raises(coord.NoNodeError):
        client.get_watch(f"{base}/missing")


def test_fired_turns_true_without_anybody_waiting(client, base):
    client.create(f"{base}/n")
    _, _, w = client.get_watch(f"{base}/n")
    assert not w.fired
    client.delete(f"{base}/n")
    deadline = time.monotonic() + 5
    while not w.fired and time.monotonic() < deadline:
        time.sleep(0.02)
    assert w.fired
    assert w.wait(timeout=0).type == "DELETED"


def test_exists_watch_fires_on_creation_and_children_watch_on_a_new_child(client, base):
    stat, created = client.exists_watch(f"{base}/later")
    assert stat is None
    names, child = client.children_watch(base)
    assert names == []
    client.create(f"{base}/later")
    assert created.wait(timeout=5).type == "CREATED"
    event = child.wait(timeout=5)
    assert (event.type, event.path) == ("CHILD", base)


def test_children_with_stats_lists_each_child_with_its_stat(client, base):
    client.create(f"{base}/b", b"xy")
    client.create(f"{base}/a", b"")
    client.set(f"{base}/a", b"z")
    children, parent = client.children_with_stats(base)
    assert [(n, s.version, s.data_length) for n, s in children] == [("a", 1, 1), ("b", 0, 2)]
    assert parent.num_children == 2


def test_remove_watches_cancels_waiting_one_shot_watches(client, base):
    client.create(f"{base}/n")
    _, _, w = client.get_watch(f"{base}/n")
    client.remove_watches(f"{base}/n", "data")
    with pytest.raises(coord.CancelledError):
        w.wait(timeout=5)
    with pytest.raises(coord.NoWatcherError):
        client.remove_watches(f"{base}/n", "data")
    with pytest.raises(coord.BadArgumentsError, match="watch kind"):
        client.remove_watches(f"{base}/n", "bogus")
    # A removed watch is gone: a later change fires nothing on it, and the
    # persistent watch removal ends an iterator.
    with client.watch(f"{base}/n") as events:
        client.remove_watches(f"{base}/n", "persistent")
        assert list(events) == []


def test_state_changes_report_connected_then_closed(server):
    c = coord.Client(server.address, session_timeout=5.0)
    states = c.state_changes()
    seen: "queue.Queue[str]" = queue.Queue()
    sub = c.on_state_change(seen.put)
    assert next(states) == "CONNECTED"
    assert seen.get(timeout=5) == "CONNECTED"
    c.close()
    assert list(states) == ["CLOSED"]
    assert seen.get(timeout=5) == "CLOSED"
    sub.close()


def test_async_one_shot_watches_removal_and_states(server, base):
    async def main():
        async with coord.AsyncClient(server.address, session_timeout=5.0) as c:
            await c.create(f"{base}/an", b"1")
            _, _, w = await c.get_watch(f"{base}/an")
            assert await w.wait(timeout=0.1) is None
            await c.set(f"{base}/an", b"2")
            assert (await w.wait(timeout=5)).type == "CHANGED"
            _, gone = await c.exists_watch(f"{base}/an")
            await c.remove_watches(f"{base}/an")
            with pytest.raises(coord.CancelledError):
                await gone.wait(timeout=5)
            children, parent = await c.children_with_stats(base)
            assert [n for n, _ in children] == ["an"] and parent.num_children == 1
            _, cw = await c.children_watch(base)
            await c.delete(f"{base}/an")
            assert (await cw.wait(timeout=5)).type == "CHILD"
            states = c.state_changes()
            assert await states.__anext__() == "CONNECTED"
        assert [s async for s in states] == ["CLOSED"]

    asyncio.run(main())
