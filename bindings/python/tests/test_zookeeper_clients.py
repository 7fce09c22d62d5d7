"""coord's recipes and kazoo's (a ZooKeeper client, through coord's
ZooKeeper port) on the same paths: a kazoo lock and a coord lock exclude each
other and hand over in FIFO order, read-write locks share and exclude across
clients, and an election sees candidates of both kinds.

The server is the real binary (`$COORD_BIN`, else target/debug/coord, see
`cluster_util.coord_bin`) serving both protocols onto one tree. Every wait is
bounded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Iterator, List, Optional

import pytest

import coord
from cluster_util import coord_bin

pytest.importorskip("kazoo", reason="kazoo is installed by run-tests.sh")
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import LockTimeout as KazooLockTimeout  # noqa: E402

# How long a contender that must stay blocked is given to (wrongly) succeed.
BLOCKED = 0.5
# How long a handoff that must happen may take.
HANDOFF = 10.0


class ZkServer:
    """`coord serve` on free loopback ports with `--zk-listen`; its addresses
    come from its stderr lines `coord: zookeeper protocol on ADDR` and
    `coord: serving on ADDR`."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="coord-py-zk-")
        self.log: List[str] = []
        self.addr: Optional[str] = None
        self.zk_addr: Optional[str] = None
        self._announced = threading.Event()
        self.proc = subprocess.Popen(
            [coord_bin(), "serve", "--data-dir", self.dir,
             "--listen", "127.0.0.1:0", "--zk-listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._announced.wait(60)
        if self.addr is None or self.zk_addr is None:
            self.stop()
            raise RuntimeError("coord serve did not start; its log:\n" + "\n".join(self.log))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.log.append(line)
            if line.startswith("coord: zookeeper protocol on "):
                self.zk_addr = line[len("coord: zookeeper protocol on "):].strip()
            elif line.startswith("coord: serving on ") and self.addr is None:
                self.addr = line[len("coord: serving on "):].strip()
                self._announced.set()
        self._announced.set()  # exited: wake the waiter

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[ZkServer]:
    s = ZkServer()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def coord_client(server: ZkServer) -> Iterator[coord.Client]:
    assert server.addr is not None
    with coord.Client(server.addr, session_timeout=5.0) as c:
        yield c


@pytest.fixture
def kz(server: ZkServer) -> Iterator[KazooClient]:
    """A kazoo client on coord's ZooKeeper port; more are made by `kz_factory`."""
    clients = _kazoo_clients(server)
    yield clients()
    clients.close_all()


@pytest.fixture
def kz_factory(server: ZkServer) -> Iterator[Callable[[], KazooClient]]:
    clients = _kazoo_clients(server)
    yield clients
    clients.close_all()


class _kazoo_clients:
    def __init__(self, server: ZkServer) -> None:
        self.server = server
        self.made: List[KazooClient] = []

    def __call__(self) -> KazooClient:
        k = KazooClient(hosts=self.server.zk_addr, timeout=5.0)
        k.start(timeout=15)
        self.made.append(k)
        return k

    def close_all(self) -> None:
        for k in self.made:
            try:
                k.stop()
                k.close()
            except Exception:  # pragma: no cover - best effort on the way out
                pass


_n = [0]


def fresh_path(prefix: str) -> str:
    _n[0] += 1
    return f"/zkc/{prefix}-{os.getpid()}-{_n[0]}"


def kazoo_acquire(lock: Any, timeout: float) -> bool:
    """kazoo's acquire with a timeout raises LockTimeout; make it a bool."""
    try:
        return bool(lock.acquire(timeout=timeout))
    except KazooLockTimeout:
        return False


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


class Waiter:
    """Runs `acquire()` in a thread; `got` is set once it returns true, then
    the thread holds until `let_go` is set and runs `release()`."""

    def __init__(self, acquire: Callable[[], bool], release: Callable[[], Any]) -> None:
        self.got = threading.Event()
        self.let_go = threading.Event()
        self.failed: List[BaseException] = []
        self._acquire = acquire
        self._release = release
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if not self._acquire():
                return
            self.got.set()
            self.let_go.wait(60)
            self._release()
        except BaseException as e:  # surfaced by finish()
            self.failed.append(e)

    def finish(self) -> None:
        self.let_go.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "waiter thread did not end"
        assert not self.failed, self.failed


def test_kazoo_and_coord_locks_exclude_each_other(coord_client: coord.Client, kz: KazooClient) -> None:
    path = fresh_path("mutex")
    held_by_kazoo = kz.Lock(path, "kazoo-holder")
    assert kazoo_acquire(held_by_kazoo, 5)
    ours = coord_client.lock(path)
    assert not ours.acquire(timeout=BLOCKED), "coord took a lock kazoo holds"
    held_by_kazoo.release()
    assert ours.acquire(timeout=HANDOFF)

    # kazoo lists the coord holder (its node's data is the owner id).
    names = held_by_kazoo.contenders()
    assert len(names) == 1 and names[0] != ""

    other = kz.Lock(path, "kazoo-waiter")
    assert not kazoo_acquire(other, BLOCKED), "kazoo took a lock coord holds"
    ours.release()
    assert kazoo_acquire(other, HANDOFF)
    other.release()
    # Timed-out contenders left nothing behind.
    wait_until(lambda: kz.get_children(path) == [], 5, "the line is empty")


def test_lock_hands_over_in_fifo_order_across_clients(
    coord_client: coord.Client, kz_factory: Callable[[], KazooClient]
) -> None:
    path = fresh_path("fifo")
    ka, kc = kz_factory(), kz_factory()
    a = ka.Lock(path, "kazoo-a")
    assert kazoo_acquire(a, 5)

    b_lock = coord_client.lock(path)
    b = Waiter(lambda: b_lock.acquire(timeout=30), b_lock.release)
    wait_until(lambda: len(ka.get_children(path)) == 2, 5, "coord B waits in line")
    c_lock = kc.Lock(path, "kazoo-c")
    c = Waiter(lambda: kazoo_acquire(c_lock, 30), c_lock.release)
    wait_until(lambda: len(ka.get_children(path)) == 3, 5, "kazoo C waits in line")
    assert a.contenders() == ["kazoo-a", b_lock_data(ka, path), "kazoo-c"]

    assert not b.got.wait(BLOCKED) and not c.got.is_set(), "nobody takes a held lock"
    a.release()
    assert b.got.wait(HANDOFF), "A's release hands the lock to B"
    assert not c.got.wait(BLOCKED), "C, behind B, waits"
    assert b_lock.token is not None
    b.finish()
    assert c.got.wait(HANDOFF), "B's release hands the lock to C"
    c.finish()


def b_lock_data(k: KazooClient, path: str) -> str:
    """The data of the one coord node in the line (its owner id)."""
    for name in k.get_children(path):
        if len(name.split("__")[0]) == 36:  # a coord owner id: a UUID with dashes
            data, _ = k.get(f"{path}/{name}")
            return str(data.decode("utf-8"))
    raise AssertionError("no coord node in the line")


def test_read_write_locks_share_and_exclude_across_clients(
    coord_client: coord.Client, kz_factory: Callable[[], KazooClient]
) -> None:
    path = fresh_path("rw")
    k1, k2 = kz_factory(), kz_factory()
    rw = coord_client.rwlock(path)

    # Readers of both kinds hold together.
    assert rw.read.acquire(timeout=5)
    kazoo_reader = k1.ReadLock(path, "kazoo-reader")
    assert kazoo_acquire(kazoo_reader, 5), "a kazoo reader shares with a coord reader"

    # A kazoo writer waits for the coord reader (alone now).
    kazoo_reader.release()
    kazoo_writer = k2.WriteLock(path, "kazoo-writer")
    assert not kazoo_acquire(kazoo_writer, BLOCKED), "kazoo writer overlapped a coord reader"
    w = Waiter(lambda: kazoo_acquire(kazoo_writer, 30), kazoo_writer.release)
    wait_until(lambda: len(k1.get_children(path)) == 2, 5, "the kazoo writer waits in line")
    assert not w.got.wait(BLOCKED)
    rw.read.release()
    assert w.got.wait(HANDOFF), "the coord reader's release lets the kazoo writer in"
    # While the kazoo writer holds, a coord reader waits.
    assert not rw.read.acquire(timeout=BLOCKED), "coord reader overlapped a kazoo writer"
    w.finish()

    # A coord writer waits for a kazoo reader.
    assert kazoo_acquire(kazoo_reader, 5)
    assert not rw.write.acquire(timeout=BLOCKED), "coord writer overlapped a kazoo reader"
    kazoo_reader.release()
    assert rw.write.acquire(timeout=HANDOFF)
    # And a kazoo reader waits for the coord writer.
    assert not kazoo_acquire(k1.ReadLock(path, "late-reader"), BLOCKED)
    rw.write.release()
    wait_until(lambda: k1.get_children(path) == [], 5, "the line is empty")


def test_elections_see_kazoo_and_coord_candidates(
    coord_client: coord.Client, kz_factory: Callable[[], KazooClient]
) -> None:
    path = fresh_path("election")
    k1, k2 = kz_factory(), kz_factory()
    changes: List[Optional[str]] = []
    changed = threading.Condition()

    def on_change(identity: Optional[str]) -> None:
        with changed:
            changes.append(identity)
            changed.notify_all()

    def seen(identity: str) -> bool:
        with changed:
            return identity in changes

    # A kazoo candidate leads.
    kazoo_election = k1.Election(path, "kazoo-leader")
    elected, leave = threading.Event(), threading.Event()

    def lead() -> None:
        elected.set()
        leave.wait(60)

    runner = threading.Thread(target=kazoo_election.run, args=(lead,), daemon=True)
    runner.start()
    assert elected.wait(HANDOFF), "the lone kazoo candidate is elected"

    ours = coord_client.election(path, identity="coord-candidate")
    sub = ours.on_change(on_change)
    try:
        assert ours.leader() == "kazoo-leader", "coord's leader query names the kazoo leader"
        wait_until(lambda: seen("kazoo-leader"), 5, "the coord observer names the kazoo leader")
        with pytest.raises(coord.LockTimeout):
            ours.campaign(timeout=BLOCKED)

        # The coord candidate stands in line; kazoo sees it.
        campaign = Waiter(lambda: ours.campaign(timeout=30) > 0, ours.resign)
        wait_until(
            lambda: kazoo_election.contenders() == ["kazoo-leader", "coord-candidate"],
            5, "kazoo lists the coord candidate after its leader",
        )
        assert not campaign.got.wait(BLOCKED), "two leaders at once"

        # The kazoo leader leaves: the coord candidate is elected.
        leave.set()
        runner.join(HANDOFF)
        assert not runner.is_alive()
        assert campaign.got.wait(HANDOFF), "the coord candidate succeeds the kazoo leader"
        assert ours.is_leader and ours.leader() == "coord-candidate"
        wait_until(lambda: seen("coord-candidate"), 5, "the coord observer names the new leader")
        assert kazoo_election.contenders() == ["coord-candidate"]

        # Vice versa: a kazoo candidate waits for the coord leader.
        second = k2.Election(path, "kazoo-second")
        second_elected, second_leave = threading.Event(), threading.Event()

        def lead_second() -> None:
            second_elected.set()
            second_leave.wait(60)

        second_runner = threading.Thread(target=second.run, args=(lead_second,), daemon=True)
        second_runner.start()
        wait_until(
            lambda: second.contenders() == ["coord-candidate", "kazoo-second"],
            5, "the second kazoo candidate waits behind the coord leader",
        )
        assert not second_elected.wait(BLOCKED), "kazoo elected itself under a coord leader"
        campaign.finish()  # resigns
        assert second_elected.wait(HANDOFF), "the coord leader's resignation elects kazoo's"
        assert ours.leader() == "kazoo-second"
        second_leave.set()
        second_runner.join(HANDOFF)
        assert not second_runner.is_alive()
    finally:
        sub.close()
        leave.set()
        kazoo_election.cancel()
