"""A lock held through a leader kill in a real 3-member cluster (issue:
"C, Python and Node take the server list and survive a leader kill with
locks held"). Clients get the full server list; A holds the lock, B waits;
SIGKILL of the leader (in one variant the member A is connected to) must
not cost A its session: A still holds, B still waits, then B gets the lock
with a greater token once A releases. Never two holders. Every wait is
bounded."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

import pytest

import coord
from cluster_util import Cluster, connected_member, own_socket_inodes

SESSION_TIMEOUT = 2.0
LOCK = "/cluster/lock"


def connect_on(cluster: Cluster, want_leader: bool, leader: int) -> "tuple[coord.Client, int]":
    """A client given the full server list that happened to pick the leader
    (or a follower, per `want_leader`): the client shuffles its list, so
    reconnect until it lands where the variant needs it."""
    for _ in range(40):
        before = own_socket_inodes()
        c = coord.Client(cluster.servers, session_timeout=SESSION_TIMEOUT)
        member = connected_member(cluster, before)
        if member is not None and (member == leader) == want_leader:
            return c, member
        c.close()
    raise AssertionError("the client never picked the wanted member in 40 connects")


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


@pytest.mark.parametrize("a_on_leader", [False, True], ids=["a_on_follower", "a_on_leader"])
def test_lock_holder_keeps_the_lock_through_a_leader_kill(a_on_leader: bool) -> None:
    with Cluster() as cluster:
        leader = cluster.leader()
        a, a_member = connect_on(cluster, a_on_leader, leader)
        b = coord.Client(cluster.servers, session_timeout=SESSION_TIMEOUT)
        observer = coord.Client(cluster.servers, session_timeout=SESSION_TIMEOUT)
        overlaps: List[str] = []
        stop = threading.Event()
        try:
            a_session = a.session_id
            a_lock = a.lock(LOCK, timeout=10)
            b_lock = b.lock(LOCK)
            b_result: Dict[str, Any] = {}

            def b_waits() -> None:
                try:
                    b_result["acquired"] = b_lock.acquire(timeout=30)
                    b_result["token"] = b_lock.token
                    b_result["a_held_then"] = a_lock.locked()
                except Exception as e:  # reported by the main thread
                    b_result["error"] = e

            def watch_holders() -> None:
                # Both handles' own view, sampled: never both held.
                while not stop.is_set():
                    if a_lock.locked() and b_lock.locked():
                        overlaps.append(f"at {time.monotonic():.3f}")
                    time.sleep(0.002)

            sampler = threading.Thread(target=watch_holders, daemon=True)
            sampler.start()
            with a_lock as token_a:
                observer.create("/cluster/a-holds", str(token_a).encode(), make_parents=True)
                waiter = threading.Thread(target=b_waits, daemon=True)
                waiter.start()
                wait_until(lambda: len(observer.children(LOCK)) == 2, 10, "B waiting in line")
                assert not b_lock.locked()

                killed_at = time.monotonic()
                cluster.kill(leader)
                new_leader = cluster.leader(exclude=leader, timeout=15)
                assert new_leader != leader
                wait_until(lambda: a.state == "CONNECTED", 10, "A reconnected")
                # Past the session timeout twice over: a session the new
                # leader did not keep alive would have expired by now.
                time.sleep(max(0.0, killed_at + 2 * SESSION_TIMEOUT + 0.5 - time.monotonic()))

                assert a.session_id == a_session, "A's session survived"
                assert a.state == "CONNECTED", a.state
                assert a_lock.locked() and not a_lock.is_lost, "A still holds the lock"
                assert a_lock.token == token_a
                observer.sync(LOCK)
                # Lock nodes are OWNER__lock__SEQ: order by the ten-digit sequence.
                line = sorted(observer.children(LOCK), key=lambda n: n[-10:])
                assert len(line) == 2, line
                head_stat = observer.exists(f"{LOCK}/{line[0]}")
                assert head_stat is not None
                assert head_stat.czxid == token_a, "A's lock node heads the line"
                assert head_stat.ephemeral_owner == a_session
                second_stat = observer.exists(f"{LOCK}/{line[1]}")
                assert second_stat is not None and second_stat.ephemeral_owner == b.session_id
                assert waiter.is_alive() and not b_lock.locked(), "B has not acquired"
                # A's session writes through the new leader.
                a.create("/cluster/written-by-a-after-failover", make_parents=True)

            waiter.join(timeout=15)
            assert not waiter.is_alive(), "B did not get the lock within 15 s of A's release"
            assert "error" not in b_result, b_result
            assert b_result["acquired"] is True
            assert b_result["a_held_then"] is False
            token_b: Optional[int] = b_result["token"]
            assert token_b is not None and token_b > token_a, (token_a, token_b)
            observer.sync(LOCK)
            line = observer.children(LOCK)
            assert len(line) == 1, line
            b_stat = observer.exists(f"{LOCK}/{line[0]}")
            assert b_stat is not None and b_stat.czxid == token_b
            b_lock.release()
            stop.set()
            sampler.join(timeout=5)
            assert overlaps == [], f"two holders at once: {overlaps[:5]}"
            print(f"a on member {a_member} (leader {leader}, a_on_leader={a_on_leader}); "
                  f"new leader {new_leader}; tokens {token_a} < {token_b}")
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            stop.set()
            for c in (a, b, observer):
                try:
                    c.close()
                except Exception:
                    pass
