"""The acceptance tests of the Python package (issue: mutual exclusion across
processes, election failover, asyncio without blocking the loop, Ctrl-C
during a blocking acquire). Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import List, Optional

import pytest

import coord
import workers

ctx = multiprocessing.get_context("spawn")


def test_eight_processes_increment_exactly_under_the_lock(server, client):
    client.create("/accept/state", json.dumps({"count": 0, "token": 0}).encode(), make_parents=True)
    out = ctx.Queue()
    procs = [ctx.Process(target=workers.increment, args=(server.address, 100, out)) for _ in range(8)]
    for p in procs:
        p.start()
    violations = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    state = json.loads(client.get("/accept/state")[0])
    assert state["count"] == 800
    assert violations == [0] * 8, "a holder saw a token not greater than its predecessor's"


def test_election_fails_over_when_the_leader_is_killed(server, client):
    seen: List[Optional[str]] = []
    sub = client.election("/accept/election", "observer").on_change(seen.append)
    out = ctx.Queue()
    a = ctx.Process(target=workers.candidate, args=(server.address, "a", out))
    a.start()
    try:
        assert out.get(timeout=30)[0] == "a"
        b = ctx.Process(target=workers.candidate, args=(server.address, "b", out))
        b.start()
        try:
            deadline = time.monotonic() + 30
            while len(client.children("/accept/election")) < 2:
                assert time.monotonic() < deadline, "b never joined the election"
                time.sleep(0.02)
            killed_at = time.monotonic()
            os.kill(a.pid, signal.SIGKILL)
            name, elected_at = out.get(timeout=10)
            assert name == "b"
            assert elected_at - killed_at <= 1.0 + 1.0, "failover took longer than session timeout + 1 s"
            deadline = time.monotonic() + 5
            while not seen or seen[-1] != "b":
                assert time.monotonic() < deadline, f"observer saw {seen}"
                time.sleep(0.02)
            assert "a" in seen
        finally:
            b.kill()
            b.join(10)
    finally:
        a.kill()
        a.join(10)
        sub.close()


def test_fifty_tasks_share_one_lock_without_blocking_the_loop(server):
    async def main() -> None:
        async with coord.AsyncClient(server.address) as c:
            holders = 0
            done = 0
            gaps: List[float] = []
            stop = asyncio.Event()

            async def heartbeat() -> None:
                last = time.monotonic()
                while not stop.is_set():
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            async def worker() -> None:
                nonlocal holders, done
                async with c.lock("/accept/alock", timeout=60):
                    holders += 1
                    assert holders == 1
                    await asyncio.sleep(0.001)
                    holders -= 1
                    done += 1

            hb = asyncio.create_task(heartbeat())
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(50))), 60)
            stop.set()
            await hb
            assert done == 50
            assert len(gaps) >= 5
            assert max(gaps) < 0.25, f"the loop stalled for {max(gaps):.3f} s"

    asyncio.run(main())


def test_ctrl_c_interrupts_a_blocking_acquire_and_leaves_no_node(server, client):
    holder = client.lock("/accept/sig")
    assert holder.acquire()
    script = textwrap.dedent(
        f"""
        import coord, signal, sys
        # A launcher that runs the suite in the background (nohup, `&` in a
        # script) leaves SIGINT ignored, and Python then installs no
        # KeyboardInterrupt handler: install it, this test is about it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with coord.Client({server.address!r}) as c:
            print("ready", flush=True)
            try:
                c.lock("/accept/sig").acquire()
                print("acquired", flush=True)
            except KeyboardInterrupt:
                print("interrupted", len(c.children("/accept/sig")), flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while len(client.children("/accept/sig")) < 2:
            assert time.monotonic() < deadline, "the child never queued for the lock"
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=20)
    finally:
        child.kill()
    assert child.returncode == 0
    assert out.strip() == "interrupted 1", out
    assert len(client.children("/accept/sig")) == 1
    holder.release()
    assert client.children("/accept/sig") == []
