"""Watches: one-shot data, exists and child watches, their order against
replies, kazoo's DataWatch/ChildrenWatch, and persistent watches (addWatch,
opcode 106, sent through kazoo's connection since kazoo 2.11.0 has no API
for them)."""

import queue
import threading

import pytest
from kazoo.exceptions import NoWatcherError
from kazoo.protocol.states import EventType, KeeperState, WatchedEvent

from conftest import (
    EV_CHANGED,
    EV_CHILD,
    EV_CREATED,
    EV_DELETED,
    PERSISTENT,
    PERSISTENT_RECURSIVE,
    WATCHER_ANY,
    WATCHER_CHILDREN,
    AddWatch,
    Frames,
    RemoveWatches,
    raw_call,
)

WAIT = 10.0


def collector():
    q = queue.Queue()
    return q, q.put


def fence(watcher_client, writer, base, name="fence"):
    """Makes sure every event caused by earlier writes has reached
    watcher_client: watch a new node, create it, wait for that event.
    The server delivers a session's events in order."""
    q, put = collector()
    path = f"{base}/{name}"
    assert watcher_client.exists(path, watch=put) is None
    writer.create(path)
    assert q.get(timeout=WAIT).type == EventType.CREATED
    writer.delete(path)


def test_data_watch_fires_changed_once(client, base):
    path = client.create(f"{base}/n", b"0")
    q, put = collector()
    client.get(path, watch=put)
    client.set(path, b"1")
    ev = q.get(timeout=WAIT)
    assert ev == WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, path)
    client.set(path, b"2")  # the watch was one-shot: no second event
    fence(client, client, base)
    assert q.empty()


def test_exists_watch_on_missing_node_fires_created(client, base):
    path = f"{base}/later"
    q, put = collector()
    assert client.exists(path, watch=put) is None
    client.create(path)
    ev = q.get(timeout=WAIT)
    assert (ev.type, ev.path) == (EventType.CREATED, path)


def test_child_watch_fires_child_on_create_and_delete(client, base):
    q, put = collector()
    assert client.get_children(base, watch=put) == []
    client.create(f"{base}/c")
    ev = q.get(timeout=WAIT)
    assert (ev.type, ev.path) == (EventType.CHILD, base)
    client.get_children(base, watch=put)
    client.delete(f"{base}/c")
    ev = q.get(timeout=WAIT)
    assert (ev.type, ev.path) == (EventType.CHILD, base)


def test_delete_fires_deleted_once_per_connection_for_all_watch_kinds(client, base):
    path = client.create(f"{base}/n")
    frames = Frames(client)
    data_q, data_put = collector()
    child_q, child_put = collector()
    client.get(path, watch=data_put)
    client.exists(path, watch=data_put)  # kazoo keeps one per function
    client.get_children(path, watch=child_put)
    client.delete(path)
    for q in (data_q, child_q):
        ev = q.get(timeout=WAIT)
        assert (ev.type, ev.path) == (EventType.DELETED, path)
    fence(client, client, base)
    assert data_q.empty() and child_q.empty()
    # The server sends one NodeDeleted for the path, whatever kinds of
    # watch the connection had on it.
    assert frames.events(path) == [(EV_DELETED, path)]


def test_child_changes_do_not_fire_data_watches_and_data_changes_do_not_fire_child_watches(client, base):
    parent = client.create(f"{base}/p")
    child = client.create(f"{base}/p/c")
    data_q, data_put = collector()
    child_q, child_put = collector()
    client.get(parent, watch=data_put)
    client.get_children(parent, watch=child_put)
    client.set(child, b"x")         # data of a child: neither watch on the parent
    client.create(f"{base}/p/d")    # a child: the child watch only
    ev = child_q.get(timeout=WAIT)
    assert (ev.type, ev.path) == (EventType.CHILD, parent)
    fence(client, client, base)
    assert data_q.empty()
    client.set(parent, b"y")
    assert data_q.get(timeout=WAIT).type == EventType.CHANGED


def test_watch_fires_for_another_clients_write(make_client, base):
    a = make_client()
    b = make_client()
    path = b.create(f"{base}/n", b"0")
    q, put = collector()
    a.get(path, watch=put)
    b.set(path, b"1")
    ev = q.get(timeout=WAIT)
    assert (ev.type, ev.path) == (EventType.CHANGED, path)


def test_event_reaches_the_watcher_before_the_reply_showing_newer_data(make_client, base):
    # ZooKeeper's ordering guarantee: a client sees the watch event for a
    # node before it sees data newer than the watched version. Frames
    # records, in kazoo's reading order, every event and reply of client a.
    a = make_client()
    b = make_client()
    path = b.create(f"{base}/n", b"v0")
    frames = Frames(a)
    q, put = collector()
    assert a.get(path, watch=put)[0] == b"v0"
    b.set(path, b"v1")
    b.set(path, b"v2")
    data, stat = a.get(path)
    assert (data, stat.version) == (b"v2", 2)
    with frames.cond:
        items = list(frames.items)
    event_at = items.index(("event", EV_CHANGED, path))
    last_reply_at = max(i for i, it in enumerate(items) if it[0] == "reply")
    assert event_at < last_reply_at, items
    assert q.get(timeout=WAIT).type == EventType.CHANGED


def test_data_watch_recipe_sees_every_settled_value(make_client, base):
    a = make_client()
    b = make_client()
    path = b.create(f"{base}/n", b"0")
    seen = []
    cond = threading.Condition()

    @a.DataWatch(path)
    def watcher(data, stat):
        with cond:
            seen.append((data, stat.version if stat else None))
            cond.notify_all()

    def saw(value):
        with cond:
            return cond.wait_for(lambda: seen and seen[-1][0] == value, timeout=WAIT)

    assert saw(b"0") and seen[0] == (b"0", 0)
    b.set(path, b"1")
    assert saw(b"1")
    b.delete(path)
    assert saw(None)
    assert seen[-1] == (None, None)
    b.create(path, b"again")
    assert saw(b"again")


def test_children_watch_recipe_follows_membership(make_client, base):
    a = make_client()
    b = make_client()
    seen = []
    cond = threading.Condition()

    @a.ChildrenWatch(base)
    def watcher(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    def saw(value):
        with cond:
            return cond.wait_for(lambda: seen and seen[-1] == value, timeout=WAIT)

    assert saw([])
    b.create(f"{base}/m1")
    assert saw(["m1"])
    b.create(f"{base}/m2", ephemeral=True)
    assert saw(["m1", "m2"])
    b.delete(f"{base}/m1")
    assert saw(["m2"])


def test_persistent_watch_fires_on_every_change_of_the_node_and_its_children_list(client, base):
    path = client.create(f"{base}/w")
    client.create(f"{base}/w/c")
    frames = Frames(client)
    assert raw_call(client, AddWatch(path, PERSISTENT)) is True
    client.set(path, b"1")
    client.set(path, b"2")
    client.create(f"{base}/w/d")
    client.set(f"{base}/w/c", b"x")  # a child's data: not watched
    client.delete(f"{base}/w/d")
    client.delete(f"{base}/w/c")
    client.delete(path)
    assert frames.wait_events(6, path=path) == [
        (EV_CHANGED, path), (EV_CHANGED, path), (EV_CHILD, path),
        (EV_CHILD, path), (EV_CHILD, path), (EV_DELETED, path)]
    fence(client, client, base)
    assert frames.events(f"{base}/w/c") == []


def test_persistent_watch_on_a_missing_node_sees_it_come_and_go(client, base):
    path = f"{base}/later"
    frames = Frames(client)
    raw_call(client, AddWatch(path, PERSISTENT))
    client.create(path)
    client.delete(path)
    client.create(path)
    assert frames.wait_events(3, path=path) == [
        (EV_CREATED, path), (EV_DELETED, path), (EV_CREATED, path)]


def test_persistent_recursive_watch_covers_descendants_without_child_events(client, base):
    root = client.create(f"{base}/r")
    frames = Frames(client)
    raw_call(client, AddWatch(root, PERSISTENT_RECURSIVE))
    client.set(root, b"1")
    client.create(f"{root}/a")
    client.create(f"{root}/a/b")
    client.set(f"{root}/a/b", b"z")
    client.delete(f"{root}/a/b")
    client.create(f"{base}/outside")
    fence(client, client, base)
    assert frames.events() == [
        (EV_CHANGED, root), (EV_CREATED, f"{root}/a"), (EV_CREATED, f"{root}/a/b"),
        (EV_CHANGED, f"{root}/a/b"), (EV_DELETED, f"{root}/a/b"),
        (EV_CREATED, f"{base}/fence")]


def test_one_event_per_change_when_a_one_shot_and_a_persistent_watch_overlap(client, base):
    path = client.create(f"{base}/n")
    frames = Frames(client)
    raw_call(client, AddWatch(path, PERSISTENT))
    q, put = collector()
    client.get(path, watch=put)
    client.set(path, b"1")
    assert q.get(timeout=WAIT).type == EventType.CHANGED
    fence(client, client, base)
    assert frames.events(path) == [(EV_CHANGED, path)]


def test_remove_watches_stops_persistent_watches(client, base):
    path = client.create(f"{base}/w")
    frames = Frames(client)
    raw_call(client, AddWatch(path, PERSISTENT))
    raw_call(client, AddWatch(f"{base}/r", PERSISTENT_RECURSIVE))
    assert raw_call(client, RemoveWatches(path, WATCHER_ANY)) is True
    assert raw_call(client, RemoveWatches(f"{base}/r", WATCHER_ANY)) is True
    with pytest.raises(NoWatcherError):
        raw_call(client, RemoveWatches(path, WATCHER_ANY))
    with pytest.raises(NoWatcherError):
        raw_call(client, RemoveWatches(f"{base}/nothing", WATCHER_CHILDREN))
    client.set(path, b"1")
    client.create(f"{base}/r")
    fence(client, client, base)
    assert frames.events() == [(EV_CREATED, f"{base}/fence")]


def test_remove_watches_stops_a_one_shot_child_watch(client, base):
    frames = Frames(client)
    client.get_children(base, watch=lambda e: None)
    assert raw_call(client, RemoveWatches(base, WATCHER_CHILDREN)) is True
    client.create(f"{base}/c")
    fence(client, client, base)
    assert frames.events(base) == []
