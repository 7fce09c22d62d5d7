"""A real 3-member coord cluster for tests: `coord serve` processes on
127.0.0.1 (free ports, fresh temp data dirs), stopped at exit of the `with`
block, also when the test fails.

The binary is `$COORD_BIN`, else the workspace's target/debug/coord, built
first with `cargo build -p coord-cli` (a no-op when it is up to date).
Every wait has a deadline."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

# Short Raft timers: an election takes well under a second.
MEMBER_FLAGS = [
    "--heartbeat-ms", "50",
    "--election-timeout-ms", "300",
    "--min-session-timeout-ms", "200",
]


def coord_bin() -> str:
    """The coord binary to run (built when not given)."""
    given = os.environ.get("COORD_BIN")
    if given:
        return given
    subprocess.run(
        ["cargo", "build", "-q", "--locked", "-p", "coord-cli"],
        cwd=ROOT, check=True, timeout=900,
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "debug", "coord")


def free_ports(n: int) -> List[int]:
    """Free loopback ports (bound, noted, released) from below the kernel's
    ephemeral range, where no outgoing connection takes one as its source
    port before a member binds it; the search starts at a random port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            top = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        top = 32768
    lowest = 10000
    span = top - lowest
    start = random.randrange(span)
    held = []
    try:
        for i in range(min(span, 4096)):
            if len(held) == n:
                break
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", lowest + (start + i) % span))
            except OSError:
                s.close()
                continue
            held.append(s)
        if len(held) < n:
            raise RuntimeError(f"found {len(held)} of {n} free loopback ports below {top}")
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


class Member:
    """One `coord serve` process; its stderr is kept (for failure messages)."""

    def __init__(self, binary: str, member_id: int, peer_port: int, cluster: str, data_dir: str) -> None:
        self.id = member_id
        self.log: List[str] = []
        self._addr: Optional[str] = None
        self._announced = threading.Event()
        self.proc = subprocess.Popen(
            [binary, "serve", "--id", str(member_id), "--listen", "127.0.0.1:0",
             "--peer-listen", f"127.0.0.1:{peer_port}", "--cluster", cluster,
             "--data-dir", data_dir, *MEMBER_FLAGS],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info,openraft=error")},
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            if line.startswith("coord: serving on ") and self._addr is None:
                self._addr = line[len("coord: serving on "):].strip()
                self._announced.set()
        self._announced.set()  # exited: wake the waiter

    def wait_serving(self, timeout: float) -> str:
        self._announced.wait(timeout)
        if self._addr is None:
            raise RuntimeError(f"member {self.id} did not start; its log:\n" + "\n".join(self.log))
        return self._addr

    @property
    def addr(self) -> str:
        assert self._addr is not None
        return self._addr

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (no shutdown path runs) and reap."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=5)


START_ATTEMPTS = 3


class Cluster:
    """`with Cluster() as c:` three founding members, a leader elected."""

    def __init__(self, size: int = 3, pick_ports: Optional[Callable[[int], List[int]]] = None) -> None:
        """`pick_ports(n)` chooses the peer ports (tests of the retry pass their own)."""
        self.binary = coord_bin()
        pick = pick_ports or free_ports
        # Ports are picked before the members bind them, and another process
        # may take one in between (an outgoing connection's source port): a
        # start that fails on a port in use is retried with new ports.
        for attempt in range(1, START_ATTEMPTS + 1):
            self.dir = tempfile.mkdtemp(prefix="coord-py-cluster-")
            self.members: Dict[int, Member] = {}
            try:
                ports = pick(size)
                spec = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
                for i, port in enumerate(ports):
                    mid = i + 1
                    self.members[mid] = Member(self.binary, mid, port, spec, os.path.join(self.dir, f"m{mid}"))
                for m in self.members.values():
                    m.wait_serving(60)
                self.status(wait_for_leader=True, timeout=30)
                return
            except BaseException as e:
                self.stop()
                if attempt == START_ATTEMPTS or "Address already in use" not in str(e):
                    raise

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Kills every member started here and removes the data. Idempotent."""
        for m in self.members.values():
            try:
                m.kill()
            except Exception:  # pragma: no cover - best effort on the way out
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def servers(self) -> str:
        """The client addresses of every member, live or not."""
        return ",".join(m.addr for m in self.members.values())

    def live_servers(self) -> str:
        return ",".join(m.addr for m in self.members.values() if m.alive())

    def status(self, wait_for_leader: bool = True, timeout: float = 30.0, exclude: Optional[int] = None) -> Dict[str, Any]:
        """`coord cluster status --json` through the live members; with
        `wait_for_leader`, polls until a leader (other than `exclude`) is named."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                out = subprocess.run(
                    [self.binary, "--servers", self.live_servers(), "--session-timeout-ms", "4000",
                     "cluster", "status", "--json"],
                    capture_output=True, text=True, timeout=10,
                )
                last = out.stdout + out.stderr
                if out.returncode == 0:
                    status: Dict[str, Any] = json.loads(out.stdout)
                    leader = status.get("leader")
                    if not wait_for_leader or (isinstance(leader, int) and leader != exclude):
                        return status
            except subprocess.TimeoutExpired:
                last = "cluster status timed out"
            if time.monotonic() > deadline:
                raise AssertionError(f"no leader within {timeout} s: {last}")
            time.sleep(0.1)

    def leader(self, exclude: Optional[int] = None, timeout: float = 30.0) -> int:
        return int(self.status(wait_for_leader=True, timeout=timeout, exclude=exclude)["leader"])

    def kill(self, member_id: int) -> None:
        self.members[member_id].kill()

    def member_by_addr(self, addr: str) -> int:
        for m in self.members.values():
            if m.addr == addr:
                return m.id
        raise KeyError(addr)

    def logs(self) -> str:
        return "\n".join(f"--- member {m.id}\n" + "\n".join(m.log[-40:]) for m in self.members.values())


def connected_member(cluster: Cluster, known_inodes: "set[str]") -> Optional[int]:
    """The member that this process's one new TCP connection (a socket not
    in `known_inodes`) goes to, read from /proc (Linux): how a test finds the
    server a client picked from its list."""
    ports = {int(m.addr.rsplit(":", 1)[1]): m.id for m in cluster.members.values()}
    found = set()
    for inode, remote_port in _tcp_sockets().items():
        if inode not in known_inodes and remote_port in ports:
            found.add(ports[remote_port])
    return found.pop() if len(found) == 1 else None


def own_socket_inodes() -> "set[str]":
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _tcp_sockets() -> Dict[str, int]:
    """inode -> remote port of this process's established TCP sockets."""
    mine = own_socket_inodes()
    out: Dict[str, int] = {}
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    remote, state, inode = fields[2], fields[3], fields[9]
                    if state == "01" and inode in mine:  # ESTABLISHED
                        out[inode] = int(remote.rsplit(":", 1)[1], 16)
        except FileNotFoundError:
            continue
    return out
