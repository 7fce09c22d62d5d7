"""Fixtures and helpers for the kazoo suite (tests/zk).

The same tests run against coord's ZooKeeper-protocol listener
(ZK_TARGET=coord, the default) and against real ZooKeeper 3.8 from Debian
(ZK_TARGET=zookeeper), which is what they were proven on: each test encodes
what ZooKeeper does. tests/zk/run.sh sets everything up.

Every wait here is bounded, every address is on loopback, every port is free.

kazoo 2.11.0 has no API for container and TTL nodes, persistent watches,
removeWatches or SetWatches (it does not re-register watches on reconnect:
on a connection loss it fires every one-shot watcher with EventType.NONE and
forgets it). For those, the helpers below send the ZooKeeper request through
kazoo's own connection (`raw_call`) or speak jute on a plain socket
(`RawSession`), so that the server sees exactly what a Java client or Curator
would send.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections import namedtuple

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import (
    Watch,
    int_struct,
    read_string,
    write_buffer,
    write_string,
)
from kazoo.protocol.states import ZnodeStat

TARGET = os.environ.get("ZK_TARGET", "coord")
IS_ZOOKEEPER = TARGET == "zookeeper"

# How long a container or TTL node may outlive its reason to exist.
REAPER_BOUND_S = 30.0

ZK_CLASSPATH = ":".join(
    [
        "/etc/zookeeper/conf",
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/slf4j-log4j12.jar",
        "/usr/share/java/log4j-1.2.jar",
    ]
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: waits for a server-side timer (container/TTL reaper, session "
        "expiry); deselect with -m 'not slow'",
    )


# --- small utilities ---------------------------------------------------------


def free_port() -> int:
    """A port the OS considers free on 127.0.0.1 (for servers that cannot
    bind port 0 and report it, like ZooKeeper)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls pred until it returns a true value; returns that value, or
    fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def four_letter(hostport: str, word: str, timeout: float = 10.0) -> str:
    """Sends a four-letter word on a fresh connection and returns everything
    the server writes before it closes the connection."""
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")


def server_conf(hostport: str) -> dict:
    """The server's `conf` four-letter word as a dict of key=value lines."""
    conf = {}
    for line in four_letter(hostport, "conf").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            conf[key.strip()] = value.strip()
    return conf


# --- servers -----------------------------------------------------------------


class Server:
    """One server process of the selected target, on loopback."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=f"zk-tests-{TARGET}-")
        self.proc = None
        self.hostport = None
        self.log_path = os.path.join(self.dir, "server.log")

    def start(self):
        if IS_ZOOKEEPER:
            self._start_zookeeper()
        else:
            self._start_coord()
        return self

    def _start_coord(self):
        binary = os.environ.get("COORD_BIN")
        if not binary or not os.access(binary, os.X_OK):
            pytest.exit(f"COORD_BIN is not an executable: {binary!r}", returncode=2)
        data = os.path.join(self.dir, "data")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
             "--zk-listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        prefix = "coord: zookeeper protocol on "

        def announced():
            if self.proc.poll() is not None:
                pytest.fail(f"coord exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "r", errors="replace") as f:
                for line in f:
                    if line.startswith(prefix):
                        return line[len(prefix):].strip()
            return None

        self.hostport = wait_until(announced, 30, what="coord to announce its zookeeper port")
        wait_until(lambda: self._ruok_or_connect(), 30, what="coord's zookeeper port to accept")

    def _start_zookeeper(self):
        port = free_port()
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(
                "tickTime=2000\n"
                f"dataDir={data}\n"
                f"clientPort={port}\n"
                "clientPortAddress=127.0.0.1\n"
                "maxClientCnxns=0\n"
                "admin.enableServer=false\n"
                "4lw.commands.whitelist=*\n"
            )
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Dzookeeper.root.logger=INFO,CONSOLE",
             "-Dzookeeper.extendedTypesEnabled=true",
             "-Dznode.container.checkIntervalMs=1000",
             "-Dzookeeper.admin.enableServer=false",
             "-cp", ZK_CLASSPATH,
             "org.apache.zookeeper.server.ZooKeeperServerMain", cfg],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        self.hostport = f"127.0.0.1:{port}"

        def ready():
            if self.proc.poll() is not None:
                pytest.fail(f"ZooKeeper exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return four_letter(self.hostport, "ruok", timeout=2) == "imok"
            except OSError:
                return False

        wait_until(ready, 60, interval=0.2, what="ZooKeeper to answer ruok")

    def _ruok_or_connect(self):
        if self.proc.poll() is not None:
            pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            host, port = self.hostport.rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=2).close()
            return True
        except OSError:
            return False

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """host:port of the ZooKeeper-protocol listener shared by the session."""
    srv = Server().start()
    try:
        yield srv.hostport
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def session_bounds(server):
    """(minSessionTimeout, maxSessionTimeout) in ms, as the server's `conf`
    reports them (ZooKeeper with tickTime 2000: 4000 and 40000)."""
    conf = server_conf(server)
    bounds = int(conf["minSessionTimeout"]), int(conf["maxSessionTimeout"])
    if IS_ZOOKEEPER:
        assert bounds == (4000, 40000)
    return bounds


@pytest.fixture
def fresh_server():
    """host:port of a server of its own, for tests that count or break things."""
    srv = Server().start()
    try:
        yield srv.hostport
    finally:
        srv.stop()


# --- clients -----------------------------------------------------------------


def _stop_client(c: KazooClient):
    with contextlib.suppress(Exception):
        c.stop()
    with contextlib.suppress(Exception):
        c.close()


@pytest.fixture
def make_client(server):
    """Factory: make_client(hosts=None, timeout=10.0, start=True, **kw) -> a
    KazooClient on the shared server (or hosts), stopped and closed after the
    test."""
    clients = []

    def make(hosts=None, timeout=10.0, start=True, **kw):
        kw.setdefault("connection_retry", {"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
        c = KazooClient(hosts=hosts or server, timeout=timeout, **kw)
        clients.append(c)
        if start:
            c.start(timeout=15)
        return c

    yield make
    for c in clients:
        _stop_client(c)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def base(client, request):
    """A fresh, empty persistent node for this test, so that tests sharing a
    server never see each other's nodes."""
    name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name)[:60]
    path = f"/t-{name}-{uuid.uuid4().hex[:8]}"
    client.create(path)
    yield path
    with contextlib.suppress(Exception):
        if client.connected:
            client.delete(path, recursive=True)


# --- a TCP proxy that can cut connections ------------------------------------


class Proxy:
    """Forwards 127.0.0.1:<port> to the server. drop() closes every current
    connection (both sides); refuse() makes new connections close at once
    (the client cannot get through) until heal(); stop() closes everything."""

    def __init__(self, upstream: str):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.hostport = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.pairs = []
        self.refusing = False
        self.accepted = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.stopped.is_set():
            try:
                down, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                refusing = self.refusing
            if refusing:
                _close(down)
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(down)
                continue
            with self.lock:
                self.pairs.append((down, up))
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)

    def drop(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for down, up in pairs:
            _close(down)
            _close(up)
        return len(pairs)

    def refuse(self):
        with self.lock:
            self.refusing = True
        self.drop()

    def heal(self):
        with self.lock:
            self.refusing = False

    def stop(self):
        self.stopped.set()
        _close(self.listener)
        self.drop()
        self.thread.join(timeout=5)


def _close(s):
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()


@pytest.fixture
def make_proxy(server):
    proxies = []

    def make(upstream=None):
        p = Proxy(upstream or server)
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.stop()


# --- requests kazoo 2.11.0 does not offer, sent on kazoo's connection ---------

CONTAINER_EPHEMERAL_OWNER = -(1 << 63)  # 0x8000000000000000 as a signed long
TTL_EPHEMERAL_OWNER_BASE = -(1 << 56)  # 0xFF00000000000000 as a signed long


def _stat(buf, offset):
    from kazoo.protocol.serialization import stat_struct

    return ZnodeStat._make(stat_struct.unpack_from(buf, offset))


def _acl_bytes(acls):
    b = bytearray(int_struct.pack(len(acls)))
    for acl in acls:
        b += int_struct.pack(acl.perms) + write_string(acl.id.scheme) + write_string(acl.id.id)
    return b


class CreateContainer(namedtuple("CreateContainer", "path data acl")):
    """createContainer (opcode 19): a CreateRequest with flags CONTAINER (4);
    the reply is a Create2Response (path, stat)."""

    type = 19

    def serialize(self):
        return (write_string(self.path) + write_buffer(self.data)
                + _acl_bytes(self.acl) + int_struct.pack(4))

    @classmethod
    def deserialize(cls, buf, offset):
        path, offset = read_string(buf, offset)
        return path, _stat(buf, offset)


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (opcode 21): CreateTTLRequest (path, data, acl, flags, ttl);
    flags 5 = PERSISTENT_WITH_TTL, 6 = PERSISTENT_SEQUENTIAL_WITH_TTL. The
    reply is a Create2Response (path, stat)."""

    type = 21

    def serialize(self):
        return (write_string(self.path) + write_buffer(self.data)
                + _acl_bytes(self.acl) + int_struct.pack(self.flags)
                + struct.pack("!q", self.ttl))

    @classmethod
    def deserialize(cls, buf, offset):
        path, offset = read_string(buf, offset)
        return path, _stat(buf, offset)


PERSISTENT = 0
PERSISTENT_RECURSIVE = 1


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (opcode 106, ZooKeeper 3.6+): mode 0 = PERSISTENT,
    1 = PERSISTENT_RECURSIVE. The reply body is an ErrorResponse (int err)."""

    type = 106

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buf, offset):
        return True


WATCHER_CHILDREN, WATCHER_DATA, WATCHER_ANY = 1, 2, 3


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """removeWatches (opcode 18): path, WatcherType (1 children, 2 data,
    3 any). Empty reply body; NoWatcherError (-121) when none matched."""

    type = 18

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.watcher_type)

    @classmethod
    def deserialize(cls, buf, offset):
        return True


class RawCreate(namedtuple("RawCreate", "path data acl flags")):
    """create (opcode 1) with the path exactly as given: kazoo's own create
    normalizes the path (and refuses "." and ".." itself) before sending."""

    type = 1

    def serialize(self):
        return (write_string(self.path) + write_buffer(self.data)
                + _acl_bytes(self.acl) + int_struct.pack(self.flags))

    @classmethod
    def deserialize(cls, buf, offset):
        return read_string(buf, offset)[0]


def raw_call(client: KazooClient, request, timeout: float = 15.0):
    """Sends one request on kazoo's connection and waits for its reply
    (the deserialized body, or the ZooKeeper error raised as kazoo's
    exception)."""
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


def create_container(client, path, data=b""):
    from kazoo.security import OPEN_ACL_UNSAFE

    return raw_call(client, CreateContainer(path, data, OPEN_ACL_UNSAFE))


def create_ttl(client, path, ttl_ms, data=b"", sequential=False):
    from kazoo.security import OPEN_ACL_UNSAFE

    flags = 6 if sequential else 5
    return raw_call(client, CreateTTL(path, data, OPEN_ACL_UNSAFE, flags, ttl_ms))


class Frames:
    """Records, in the order kazoo's connection thread reads them, the watch
    events ("event", type, path) and replies ("reply", xid, request type) of
    one client. Persistent-watch events reach kazoo too but have no kazoo
    watcher; this is how tests see them."""

    def __init__(self, client: KazooClient):
        self.items = []
        self.cond = threading.Condition()
        conn = client._connection
        orig_event = conn._read_watch_event
        orig_reply = conn._read_response

        def on_event(buf, offset):
            watch, _ = Watch.deserialize(buf, offset)
            with self.cond:
                self.items.append(("event", watch.type, watch.path))
                self.cond.notify_all()
            return orig_event(buf, offset)

        def on_reply(header, buf, offset):
            request = client._pending[0][0] if client._pending else None
            with self.cond:
                self.items.append(("reply", header.xid, getattr(request, "type", None)))
                self.cond.notify_all()
            return orig_reply(header, buf, offset)

        conn._read_watch_event = on_event
        conn._read_response = on_reply

    def events(self, path=None):
        with self.cond:
            return [(t, p) for kind, t, p in self.items
                    if kind == "event" and (path is None or p == path)]

    def wait_events(self, n, path=None, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                evs = [(t, p) for kind, t, p in self.items
                       if kind == "event" and (path is None or p == path)]
                if len(evs) >= n:
                    return evs
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"expected {n} watch events, got {evs}")
                self.cond.wait(left)


# Watch event types on the wire (WatchedEvent.type).
EV_CREATED, EV_DELETED, EV_CHANGED, EV_CHILD = 1, 2, 3, 4


# --- jute on a plain socket --------------------------------------------------


class RawSession:
    """A minimal ZooKeeper client on a plain socket, for what kazoo cannot
    send (SetWatches, a chosen ConnectRequest, broken frames)."""

    def __init__(self, hostport: str, timeout: float = 10.0):
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.xid = 0

    def send_frame(self, body: bytes):
        self.sock.sendall(struct.pack("!i", len(body)) + body)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (n,) = struct.unpack("!i", self.recv_exact(4))
        return self.recv_exact(n)

    def connect(self, session_id=0, passwd=b"\0" * 16, timeout_ms=10000,
                last_zxid=0, read_only=False):
        """Sends a ConnectRequest exactly as kazoo does and returns
        (protocol_version, timeout_ms, session_id, passwd)."""
        self.send_frame(struct.pack("!iqiq", 0, last_zxid, timeout_ms, session_id)
                        + write_buffer(passwd) + bytes([1 if read_only else 0]))
        body = self.recv_frame()
        proto, timeout, sid = struct.unpack_from("!iiq", body, 0)
        (plen,) = struct.unpack_from("!i", body, 16)
        pw = body[20:20 + plen] if plen > 0 else b""
        return proto, timeout, sid, pw

    def request(self, opcode: int, payload: bytes):
        """Sends one request; returns its xid."""
        self.xid += 1
        self.send_frame(struct.pack("!ii", self.xid, opcode) + payload)
        return self.xid

    def read_reply(self):
        """Reads one frame: (xid, zxid, err, body after the header)."""
        body = self.recv_frame()
        xid, zxid, err = struct.unpack_from("!iqi", body, 0)
        return xid, zxid, err, body[16:]

    def wait_event(self, timeout=10.0):
        """Reads frames until a watch event (xid -1); returns (type, state, path)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("no watch event arrived")
            self.sock.settimeout(left)
            xid, _, _, rest = self.read_reply()
            if xid == -1:
                typ, state = struct.unpack_from("!ii", rest, 0)
                path, _ = read_string(rest, 8)
                return typ, state, path

    def closed_by_server(self, timeout=10.0) -> bool:
        """True if the server closes the connection within timeout (whatever
        it writes first is read and discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        _close(self.sock)


@pytest.fixture
def raw_session(server):
    sessions = []

    def make(hostport=None):
        s = RawSession(hostport or server)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()
