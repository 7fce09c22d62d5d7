"""Every blocking call can be cancelled and leaves nothing behind: Ctrl-C
(SIGINT) in sync code, `timeout=`, and cancelling the asyncio task.

"Nothing behind" is checked while the cancelled session is still alive:
within CLEANUP_S, no node under the test's path is owned by that session
(its ephemeral contender, candidate or member node was deleted, not left
for the session's end to clean up). The core deletes such a node in the
background after the cancelled call returns (a double barrier member or a
multi-lock's taken lock after an ownership check), hence the bounded wait."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from typing import List

import pytest

import coord

# name -> (parent's setup, the child's blocking statement, creates a node)
# `c` is the child's client, `P` the test's path; `held` keeps the parent's
# handles alive for the test.
BLOCKING = {
    "lock": ("held.append(p.lock(P)); held[-1].acquire()", "c.lock(P).acquire()", True),
    "semaphore": ("held.append(p.semaphore(P, 1)); held[-1].acquire()", "c.semaphore(P, 1).acquire()", True),
    "multi_lock": ("held.append(p.lock(P + '/b')); held[-1].acquire()",
                   "c.multi_lock([P + '/a', P + '/b']).acquire()", True),
    "campaign": ("held.append(p.election(P, 'parent')); held[-1].campaign()",
                 "c.election(P, 'child').campaign()", True),
    "double_barrier_enter": ("", "c.double_barrier(P, 'child', 2).enter()", True),
    "barrier_wait": ("p.barrier(P).set()", "c.barrier(P).wait()", False),
    "queue_get": ("", "c.queue(P).get()", False),
    "watch_next": ("p.create(P, make_parents=True)", "next(c.watch(P))", False),
    "oneshot_wait": ("p.create(P, make_parents=True)", "c.get_watch(P)[2].wait()", False),
    "group_watch_next": ("", "w = c.group(P).watch(); next(w); next(w)", False),
    "election_changes_next": ("", "w = c.election(P).changes(); next(w); next(w)", False),
}

CHILD = textwrap.dedent(
    """
    import signal, sys
    import coord
    # A launcher that runs the suite in the background leaves SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    address, P = sys.argv[1], sys.argv[2]
    c = coord.Client(address, session_timeout=10.0)
    print(c.session_id, flush=True)
    try:
        {statement}
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.stdin.readline()  # the parent looks at the nodes meanwhile
        raise
    """
)


def owned_nodes(client: coord.Client, path: str, session: int) -> List[str]:
    """Every node under `path` (itself included) owned by `session`."""
    found = []
    stack = [path]
    while stack:
        p = stack.pop()
        stat = client.exists(p)
        if stat is None:
            continue
        if stat.ephemeral_owner == session:
            found.append(p)
        try:
            children, _ = client.children_with_stats(p)
        except coord.NoNodeError:
            continue
        stack.extend(f"{p.rstrip('/')}/{name}" for name, _ in children)
    return found


CLEANUP_S = 5.0
"""How long the background clean-up of a cancelled call may take."""


def wait_until(pred, what: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("name", sorted(BLOCKING))
def test_ctrl_c_interrupts_a_blocked_call_promptly_and_leaves_no_node(name, server, client, base):
    setup, statement, creates = BLOCKING[name]
    path = f"{base}/{name}"
    held: list = []
    exec(setup, {"p": client, "P": path, "held": held})
    script = CHILD.format(statement=statement)
    child = subprocess.Popen(
        [sys.executable, "-c", script, server.address, path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        session = int(child.stdout.readline())
        if creates:
            wait_until(lambda: owned_nodes(client, path, session), f"{name}: the child never created its node")
        else:
            time.sleep(0.5)  # let the child block; it creates nothing to see
        assert child.poll() is None, f"{name} returned instead of blocking"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline().strip() == "interrupted"
        assert time.monotonic() - sent < 3, f"{name}: Ctrl-C took {time.monotonic() - sent:.1f} s"
        wait_until(lambda: owned_nodes(client, path, session) == [],
                   f"{name}: left {owned_nodes(client, path, session)}", CLEANUP_S)
        child.stdin.write("\n")
        child.stdin.flush()
        _, err = child.communicate(timeout=10)
    finally:
        child.kill()
        child.wait()
    assert child.returncode != 0
    assert err.rstrip().endswith("KeyboardInterrupt"), err


# name -> (parent's setup, the call with a timeout of 0.3 s, what it returns)
TIMED = {
    "lock": ("held.append(p.lock(P)); held[-1].acquire()", "c.lock(P).acquire(timeout=0.3)", False),
    "semaphore": ("held.append(p.semaphore(P, 1)); held[-1].acquire()",
                  "c.semaphore(P, 1).acquire(timeout=0.3)", False),
    "multi_lock": ("held.append(p.lock(P + '/b')); held[-1].acquire()",
                   "c.multi_lock([P + '/a', P + '/b']).acquire(timeout=0.3)", False),
    "campaign": ("held.append(p.election(P, 'parent')); held[-1].campaign()",
                 "c.election(P, 'child').campaign(timeout=0.3)", coord.LockTimeout),
    "double_barrier_enter": ("", "c.double_barrier(P, 'child', 2).enter(timeout=0.3)", TimeoutError),
    "barrier_wait": ("p.barrier(P).set()", "c.barrier(P).wait(timeout=0.3)", TimeoutError),
    "queue_get": ("", "c.queue(P).get(timeout=0.3)", TimeoutError),
    "watch_next": ("p.create(P, make_parents=True)", "c.watch(P).next(timeout=0.3)", TimeoutError),
    "oneshot_wait": ("p.create(P, make_parents=True)", "c.get_watch(P)[2].wait(timeout=0.3)", None),
    "group_watch_next": ("", "[w.next(timeout=5), w.next(timeout=0.3)]", TimeoutError),
}


@pytest.mark.parametrize("name", sorted(TIMED))
def test_timeout_ends_a_blocked_call_and_leaves_no_node(name, server, client, base):
    setup, expr, outcome = TIMED[name]
    path = f"{base}/{name}"
    held: list = []
    exec(setup, {"p": client, "P": path, "held": held})
    with coord.Client(server.address, session_timeout=10.0) as c:
        scope = {"c": c, "P": path, "w": c.group(path).watch()}
        start = time.monotonic()
        if isinstance(outcome, type) and issubclass(outcome, BaseException):
            with pytest.raises(outcome):
                eval(expr, scope)
        else:
            assert eval(expr, scope) is outcome
        assert time.monotonic() - start < 3, f"{name} took {time.monotonic() - start:.1f} s"
        wait_until(lambda: owned_nodes(client, path, c.session_id) == [],
                   f"{name}: left {owned_nodes(client, path, c.session_id)}", CLEANUP_S)


# name -> (parent's setup, the awaited call, creates a node)
ASYNC_BLOCKING = {
    "lock": ("held.append(p.lock(P)); held[-1].acquire()", "c.lock(P).acquire()", True),
    "semaphore": ("held.append(p.semaphore(P, 1)); held[-1].acquire()", "c.semaphore(P, 1).acquire()", True),
    "multi_lock": ("held.append(p.lock(P + '/b')); held[-1].acquire()",
                   "c.multi_lock([P + '/a', P + '/b']).acquire()", True),
    "campaign": ("held.append(p.election(P, 'parent')); held[-1].campaign()",
                 "c.election(P, 'child').campaign()", True),
    "double_barrier_enter": ("", "c.double_barrier(P, 'child', 2).enter()", True),
    "barrier_wait": ("p.barrier(P).set()", "c.barrier(P).wait()", False),
    "queue_get": ("", "c.queue(P).get()", False),
    "watch_next": ("p.create(P, make_parents=True)", "c.watch(P).next()", False),
    "oneshot_wait": ("p.create(P, make_parents=True)", "oneshot(c, P)", False),
}


async def oneshot(c: coord.AsyncClient, path: str) -> None:
    _, _, w = await c.get_watch(path)
    await w.wait()


@pytest.mark.parametrize("name", sorted(ASYNC_BLOCKING))
def test_cancelling_the_asyncio_task_leaves_no_node(name, server, client, base):
    setup, expr, creates = ASYNC_BLOCKING[name]
    path = f"{base}/{name}"
    held: list = []
    exec(setup, {"p": client, "P": path, "held": held})

    async def main() -> None:
        async with coord.AsyncClient(server.address, session_timeout=10.0) as c:
            task = asyncio.ensure_future(eval(expr, {"c": c, "P": path, "oneshot": oneshot}))
            deadline = time.monotonic() + 10
            if creates:
                while not owned_nodes(client, path, c.session_id):
                    assert time.monotonic() < deadline, f"{name}: no node was created"
                    await asyncio.sleep(0.02)
            else:
                await asyncio.sleep(0.5)
            assert not task.done(), f"{name} returned instead of blocking"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
            deadline = time.monotonic() + CLEANUP_S
            while owned_nodes(client, path, c.session_id):
                assert time.monotonic() < deadline, f"{name}: left {owned_nodes(client, path, c.session_id)}"
                await asyncio.sleep(0.02)

    asyncio.run(main())


def test_async_iterators_take_a_timeout_and_lose_no_item(server, client, base):
    async def main() -> None:
        async with coord.AsyncClient(server.address, session_timeout=10.0) as c:
            await c.create(f"{base}/n")
            async with c.watch(f"{base}/n") as events:
                start = time.monotonic()
                with pytest.raises(coord.OperationTimeoutError):
                    await events.next(timeout=0.3)
                assert time.monotonic() - start < 3
                await c.set(f"{base}/n", b"x")
                event = await events.next(timeout=5)
                assert (event.type, event.path) == ("CHANGED", f"{base}/n")
            members = c.group(f"{base}/g").watch()
            assert await members.next(timeout=5) == []
            with pytest.raises(TimeoutError):
                await members.next(timeout=0.2)
            members.close()
            with pytest.raises(StopAsyncIteration):
                await members.next(timeout=5)

    asyncio.run(main())


def test_a_sync_iterator_timeout_loses_no_item(client, base):
    client.create(f"{base}/n")
    with client.watch(f"{base}/n") as events:
        with pytest.raises(TimeoutError):
            events.next(timeout=0.2)
        client.set(f"{base}/n", b"x")
        client.set(f"{base}/n", b"y")
        first, second = events.next(timeout=5), events.next(timeout=5)
        assert first.zxid < second.zxid and {first.type, second.type} == {"CHANGED"}
