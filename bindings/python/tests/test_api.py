"""The sync and asyncio APIs beyond the acceptance tests: nodes,
transactions, watches, caches and each recipe, fork safety."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

import coord


def wait_until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_nodes_round_trip_with_a_frozen_stat(client, base):
    p = client.create(f"{base}/a/b", b"x", make_parents=True)
    data, stat = client.get(p)
    assert (data, stat.version, stat.data_length) == (b"x", 0, 1)
    with pytest.raises(AttributeError):
        stat.version = 3  # type: ignore[misc]
    assert client.set(p, b"yy", version=0).version == 1
    with pytest.raises(coord.BadVersionError):
        client.set(p, b"z", version=0)
    seq = client.create(f"{base}/s-", sequential=True, ephemeral=True)
    assert seq.startswith(f"{base}/s-") and client.exists(seq).ephemeral_owner == client.session_id
    assert client.children(base) == sorted(["a", seq.rsplit("/", 1)[1]])
    client.delete(seq)
    assert client.exists(seq) is None
    with pytest.raises(coord.BadArgumentsError):
        client.create(f"{base}/bad", ephemeral=True, container=True)


def test_a_transaction_commits_at_exit_and_not_on_error(client, base):
    with client.transaction() as t:
        t.create(f"{base}/x", b"1")
        t.check(base)
    assert t.results == [f"{base}/x", None]
    with pytest.raises(RuntimeError):
        with client.transaction() as t:
            t.create(f"{base}/y")
            raise RuntimeError("no")
    assert client.exists(f"{base}/y") is None
    with pytest.raises(coord.NodeExistsError):
        with client.transaction() as t:
            t.create(f"{base}/z")
            t.create(f"{base}/x")
    assert client.exists(f"{base}/z") is None


def test_watch_iterates_events_in_order(client, base):
    with client.watch(f"{base}/w") as events:
        client.create(f"{base}/w", b"1")
        client.set(f"{base}/w", b"2")
        client.delete(f"{base}/w")
        got = [next(events) for _ in range(3)]
    assert [e.type for e in got] == ["CREATED", "CHANGED", "DELETED"]
    assert got[0].zxid < got[1].zxid < got[2].zxid


def test_a_closed_watch_delivers_nothing_more_and_its_for_loop_ends(client, base):
    path = f"{base}/cw"
    events = client.watch(path)
    client.create(path, b"1")
    client.set(path, b"2")
    client.set(path, b"3")  # all three events have arrived when this returns
    got = []
    for event in events:  # ends without an error
        got.append(event.type)
        events.close()
    assert got == ["CREATED"]
    assert next(events, "ended") == "ended"


def test_streams_end_without_an_error_when_their_client_closes(server):
    c = coord.Client(server.address, session_timeout=5.0)
    events = c.watch("/closing-client")
    changes = c.election("/closing-client-e", "me").changes()
    assert next(changes) is None
    outcome = []

    def drain(stream):
        try:
            outcome.append(list(stream))
        except Exception as e:  # noqa: BLE001 - the test reports it
            outcome.append(e)

    threads = [threading.Thread(target=drain, args=(s,)) for s in (events, changes)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    c.close()
    for t in threads:
        t.join(5)
        assert not t.is_alive()
    assert outcome == [[], []]


def test_async_for_ends_after_close_and_when_the_client_closes(server):
    async def main():
        async with coord.AsyncClient(server.address) as c:
            watch = c.watch("/aclose/x")
            async with watch:
                await c.create("/aclose/x", b"1", make_parents=True)
                await c.set("/aclose/x", b"2")
                got = []
                async for event in watch:
                    got.append(event.type)
                    watch.close()
                assert got == ["CREATED"]
            other = c.watch("/aclose/y")
            await other.__aenter__()

            async def drain():
                return [e async for e in other]

            task = asyncio.create_task(drain())
            await asyncio.sleep(0.1)
            await c.close()
            assert await asyncio.wait_for(task, 5) == []

    asyncio.run(main())


def test_data_watch_and_caches_follow_changes(client, base):
    seen = []
    dw = client.data_watch(f"{base}/d", lambda data, stat: seen.append(data))
    client.create(f"{base}/d", b"1")
    client.set(f"{base}/d", b"2")
    wait_until(lambda: seen[-1:] == [b"2"])
    assert seen[0] is None
    dw.close()
    with client.node_cache(f"{base}/d") as nc, client.tree_cache(base) as tc:
        assert nc.data == b"2"
        client.set(f"{base}/d", b"3")
        wait_until(lambda: nc.data == b"3" and tc.get(f"{base}/d")[0] == b"3")
        assert set(tc.children(base)) == {"d"}


def test_lock_behaves_like_threading_lock(client, base):
    a, b = client.lock(f"{base}/l"), client.lock(f"{base}/l")
    assert a.acquire()
    assert a.token is not None and not a.is_lost
    assert not b.acquire(blocking=False)
    assert not b.acquire(timeout=0.1)
    a.release()
    with b as token:
        assert token == b.token
    with pytest.raises(coord.NotHeldError):
        b.release()
    with pytest.raises(coord.LockTimeout):
        with a:
            with client.lock(f"{base}/l", timeout=0.1):
                pass


def test_a_lock_lost_inside_a_with_block_raises_lock_lost(client, base):
    lock = client.lock(f"{base}/lost")
    with pytest.raises(coord.LockLost):
        with lock:
            for name in client.children(f"{base}/lost"):
                client.delete(f"{base}/lost/{name}")
            wait_until(lambda: lock.is_lost)


def test_lock_status_answers_at_once_while_an_acquire_of_the_handle_waits(client, base):
    holder, waiter = client.lock(f"{base}/st"), client.lock(f"{base}/st")
    assert holder.acquire()
    outcome = []
    t = threading.Thread(target=lambda: outcome.append(waiter.acquire(timeout=10)))
    t.start()
    wait_until(lambda: len(client.children(f"{base}/st")) == 2)
    started = time.monotonic()
    assert waiter.token is None
    assert not waiter.is_lost
    assert not waiter.locked()
    assert time.monotonic() - started < 1.0
    assert t.is_alive(), "the acquire still waits"
    holder.release()
    t.join(10)
    assert outcome == [True] and waiter.locked() and waiter.token is not None
    waiter.release()


def test_async_lock_status_answers_at_once_while_an_acquire_waits(server):
    async def main():
        async with coord.AsyncClient(server.address) as c:
            holder, waiter = c.lock("/async-st/l"), c.lock("/async-st/l")
            await holder.acquire()
            pending = asyncio.create_task(waiter.acquire(timeout=10))
            for _ in range(250):
                if len(await c.children("/async-st/l")) == 2:
                    break
                await asyncio.sleep(0.02)
            started = time.monotonic()
            assert waiter.token is None and not waiter.is_lost and not waiter.locked()
            assert time.monotonic() - started < 1.0
            assert not pending.done()
            await holder.release()
            assert await asyncio.wait_for(pending, 10)
            assert waiter.locked()
            await waiter.release()

    asyncio.run(main())


def test_a_lease_lost_inside_a_with_block_raises_lock_lost(client, base):
    sem = client.semaphore(f"{base}/semlost", 1)
    with pytest.raises(coord.LockLost):
        with sem:
            assert not sem.is_lost
            for name in client.children(f"{base}/semlost"):
                client.delete(f"{base}/semlost/{name}")
            wait_until(lambda: sem.is_lost, timeout=3.0)


def test_rwlock_semaphore_multilock(client, base):
    rw = client.rwlock(f"{base}/rw")
    other = client.rwlock(f"{base}/rw")
    with rw.read, other.read:
        assert not other.write.acquire(blocking=False)
    with rw.write:
        pass
    sem = client.semaphore(f"{base}/sem", 2)
    with sem, sem:
        assert not client.semaphore(f"{base}/sem", 2).acquire(blocking=False)
    ml = client.multi_lock([f"{base}/m1", f"{base}/m2"])
    with ml as tokens:
        assert len(tokens) == 2
        assert not client.lock(f"{base}/m2").acquire(blocking=False)


def test_election_with_block_leads_and_resigns(client, base):
    e1, e2 = client.election(f"{base}/e", "one"), client.election(f"{base}/e", "two")
    changes = e1.changes()
    assert next(changes) is None
    with e1:
        assert e1.is_leader and e2.leader() == "one"
        assert next(changes) == "one"
        assert not e2.campaign is None
        with pytest.raises(coord.LockTimeout):
            e2.campaign(timeout=0.1)
    assert not e1.is_leader
    assert next(changes) is None
    changes.close()


def test_barriers_queue_counter_discovery(client, base):
    bar = client.barrier(f"{base}/bar")
    bar.set()
    with pytest.raises(coord.OperationTimeoutError):
        bar.wait(timeout=0.1)
    threading.Timer(0.1, bar.remove).start()
    bar.wait(timeout=5)

    results = []

    def member(i):
        with coord.Client(client_address) as c, c.double_barrier(f"{base}/db", f"m{i}", 3, timeout=10):
            results.append(i)

    client_address = os.environ["COORD_TEST_ADDRESS"]
    threads = [threading.Thread(target=member, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [0, 1, 2]

    q = client.queue(f"{base}/q")
    q.put(b"1")
    q.put(b"2")
    assert len(q) == 2 and q.peek() == b"1"
    assert (q.get(), q.get(), q.get(block=False)) == (b"1", b"2", None)

    ctr = client.counter(f"{base}/n")
    assert ctr.add(2) == 2 and ctr.add(-1) == 1 and ctr.value == 1
    assert ctr.compare_and_set(1, 10) and not ctr.compare_and_set(1, 11)

    d = client.discovery(f"{base}/services")
    with d.register("api", "10.0.0.1", 80, id="a"), d.register("api", "10.0.0.2", 80, id="b"):
        assert [i.id for i in d.instances("api")] == ["a", "b"]
        picks = {d.pick("api").id for _ in range(4)}
        assert picks == {"a", "b"}
    d.close()


@pytest.fixture(autouse=True)
def _address(server, monkeypatch):
    monkeypatch.setenv("COORD_TEST_ADDRESS", server.address)


def test_async_client_has_the_same_names(server):
    async def main():
        async with coord.AsyncClient(server.address) as c:
            await c.create("/async/x", b"1", make_parents=True)
            data, stat = await c.get("/async/x")
            assert data == b"1"
            async with c.transaction() as t:
                t.set("/async/x", b"2")
            watch = c.watch("/async/x")
            async with watch:
                await c.delete("/async/x")
                event = await asyncio.wait_for(watch.__anext__(), 5)
                assert event.type == "DELETED"
            e = c.election("/async/e", "me")
            async with e:
                assert await e.leader() == "me"
            assert await c.counter("/async/n").add(3) == 3
            # Cancelling a waiting acquire leaves no node behind.
            holder = c.lock("/async/l")
            async with holder:
                waiter = asyncio.create_task(c.lock("/async/l").acquire())
                await asyncio.sleep(0.2)
                waiter.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiter
                for _ in range(100):
                    if len(await c.children("/async/l")) == 1:
                        break
                    await asyncio.sleep(0.02)
                assert len(await c.children("/async/l")) == 1

    asyncio.run(main())


def test_a_client_used_after_fork_raises_a_clear_error(client):
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            try:
                client.get("/")
            except coord.CoordError as e:
                if "fork" in str(e):
                    code = 2
            if code == 2:
                with coord.Client(os.environ["COORD_TEST_ADDRESS"]) as c:
                    c.exists("/")
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert client.exists("/") is not None
