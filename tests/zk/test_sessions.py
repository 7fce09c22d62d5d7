"""Sessions: ids and passwords, negotiated timeouts, resuming a session on
a new connection, expiry, and close."""

import struct
import threading
import time

import pytest
from kazoo.protocol.states import KazooState
from kazoo.protocol.serialization import write_string

from conftest import wait_until


def record_states(client):
    states = []
    client.add_listener(lambda s: states.append(s))
    return states


def record_connect_replies(client):
    """The ConnectResponses kazoo reads (kazoo keeps no negotiated timeout)."""
    replies = []
    conn = client._connection
    orig = conn._invoke

    def invoke(timeout, request, xid=None):
        result = orig(timeout, request, xid)
        if type(request).__name__ == "Connect":
            replies.append(result[0])
        return result

    conn._invoke = invoke
    return replies


def test_session_has_an_id_and_a_16_byte_password(client):
    session_id, password = client.client_id
    assert isinstance(session_id, int) and session_id != 0
    assert isinstance(password, bytes) and len(password) == 16
    assert password != b"\0" * 16


def test_two_clients_get_different_sessions(make_client):
    a, b = make_client(), make_client()
    assert a.client_id[0] != b.client_id[0]


@pytest.mark.parametrize("asked", ["below", "inside", "above"])
def test_negotiated_timeout_is_clamped_to_the_servers_bounds(make_client, session_bounds, asked):
    low, high = session_bounds
    assert low <= 10000 <= high
    asked_ms, granted_ms = {"below": (low // 2, low), "inside": (10000, 10000),
                            "above": (high * 2, high)}[asked]
    c = make_client(timeout=asked_ms / 1000.0, start=False)
    replies = record_connect_replies(c)
    c.start(timeout=15)
    assert replies and replies[-1].time_out == granted_ms


@pytest.mark.parametrize("asked", ["below", "inside", "above"])
def test_connect_reply_carries_protocol_zero_timeout_id_and_password(raw_session, session_bounds, asked):
    low, high = session_bounds
    asked_ms, granted_ms = {"below": (1, low), "inside": (10000, 10000),
                            "above": (10_000_000, high)}[asked]
    s = raw_session()
    proto, timeout, session_id, passwd = s.connect(timeout_ms=asked_ms)
    assert proto == 0
    assert timeout == granted_ms
    assert session_id != 0 and len(passwd) == 16


def test_connect_with_unknown_session_is_answered_expired_and_closed(raw_session):
    s = raw_session()
    proto, timeout, session_id, passwd = s.connect(session_id=0x0123456789, passwd=b"p" * 16)
    # timeout 0 is how an expired session is told; kazoo raises
    # SessionExpiredError on it and starts a new session.
    assert (timeout, session_id) == (0, 0)
    assert s.closed_by_server(10)


def test_connect_with_wrong_password_is_answered_expired(client, raw_session):
    session_id, _ = client.client_id
    s = raw_session()
    _, timeout, sid, _ = s.connect(session_id=session_id, passwd=b"x" * 16)
    assert (timeout, sid) == (0, 0)
    assert s.closed_by_server(10)
    # The owner keeps its session. (ZooKeeper closes the owner's current
    # connection on any reconnect attempt for the session, even one with a
    # wrong password; kazoo then resumes the session, hence the retry.)
    assert client.retry(client.exists, "/") is not None
    wait_until(lambda: client.connected, 15, what="owner connected")
    assert client.client_id[0] == session_id


def test_dropped_connection_resumes_the_same_session(make_client, make_proxy, base):
    proxy = make_proxy()
    c = make_client(hosts=proxy.hostport)
    states = record_states(c)
    observer = make_client()
    session_id, passwd = c.client_id
    eph = c.create(f"{base}/eph", ephemeral=True)
    assert proxy.drop() == 1
    wait_until(lambda: KazooState.SUSPENDED in states, 10, what="SUSPENDED")
    wait_until(lambda: c.connected, 15, what="reconnect")
    assert states[-2:] == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert KazooState.LOST not in states
    assert c.client_id == (session_id, passwd)
    assert observer.exists(eph).ephemeralOwner == session_id
    assert c.get(eph)[1].ephemeralOwner == session_id


def test_data_watch_recipe_catches_a_change_made_while_disconnected(make_client, make_proxy, base):
    # kazoo 2.11.0 sends no SetWatches: on reconnect its DataWatch re-reads.
    proxy = make_proxy()
    c = make_client(hosts=proxy.hostport)
    writer = make_client()
    path = writer.create(f"{base}/n", b"before")
    seen = []
    cond = threading.Condition()

    @c.DataWatch(path)
    def w(data, stat):
        with cond:
            seen.append(data)
            cond.notify_all()

    with cond:
        assert cond.wait_for(lambda: seen[-1:] == [b"before"], timeout=10)
    proxy.refuse()
    wait_until(lambda: not c.connected, 10, what="disconnect")
    writer.set(path, b"during")
    proxy.heal()
    wait_until(lambda: c.connected, 15, what="reconnect")
    with cond:
        assert cond.wait_for(lambda: seen[-1:] == [b"during"], timeout=10), seen
    writer.set(path, b"after")
    with cond:
        assert cond.wait_for(lambda: seen[-1:] == [b"after"], timeout=10), seen


def _vec(items):
    return struct.pack("!i", len(items)) + b"".join(write_string(x) for x in items)


def _set_watches(s, relative_zxid, data=(), exist=(), child=()):
    # SetWatches (opcode 101) with the reserved xid -8, as the Java client
    # sends it after reconnecting.
    s.send_frame(struct.pack("!iiq", -8, 101, relative_zxid)
                 + _vec(list(data)) + _vec(list(exist)) + _vec(list(child)))


def test_set_watches_on_reconnect_restores_watches(client, raw_session, base):
    path = client.create(f"{base}/n", b"0")
    s = raw_session()
    _, _, sid, pw = s.connect()
    s.request(4, write_string(path) + b"\x01")  # getData with watch
    _, zxid, err, _ = s.read_reply()
    assert err == 0
    s.close()
    s = raw_session()
    _, timeout, sid2, _ = s.connect(session_id=sid, passwd=pw, last_zxid=zxid)
    assert (timeout > 0, sid2) == (True, sid)
    _set_watches(s, zxid, data=[path], exist=[f"{base}/missing"], child=[base])
    xid, _, err, _ = s.read_reply()
    assert (xid, err) == (-8, 0)
    client.set(path, b"1")
    typ, state, p = s.wait_event()
    assert (typ, state, p) == (3, 3, path)  # NodeDataChanged, SyncConnected
    client.create(f"{base}/missing")
    events = {s.wait_event()[::2], s.wait_event()[::2]}
    assert events == {(1, f"{base}/missing"), (4, base)}


def test_set_watches_fires_at_once_for_changes_missed_while_away(client, raw_session, base):
    path = client.create(f"{base}/n", b"0")
    s = raw_session()
    _, _, sid, pw = s.connect()
    s.request(4, write_string(path) + b"\x01")
    _, zxid, _, _ = s.read_reply()
    s.close()
    client.set(path, b"changed while away")
    s = raw_session()
    s.connect(session_id=sid, passwd=pw, last_zxid=zxid)
    _set_watches(s, zxid, data=[path])
    # ZooKeeper sends the missed event before the SetWatches reply.
    xid, _, err, rest = s.read_reply()
    assert (xid, err) == (-1, 0)
    assert struct.unpack_from("!ii", rest) == (3, 3)
    xid, _, err, _ = s.read_reply()
    assert (xid, err) == (-8, 0)


@pytest.mark.slow
def test_session_expires_when_the_client_cannot_come_back(make_client, make_proxy, base):
    proxy = make_proxy()
    c = make_client(hosts=proxy.hostport, timeout=4.0)
    observer = make_client()
    eph = c.create(f"{base}/eph", ephemeral=True)
    gone = threading.Event()
    assert observer.exists(eph, watch=lambda e: gone.set()) is not None
    proxy.refuse()
    started = time.monotonic()
    # 4 s negotiated; ZooKeeper checks expiry once a tick (2 s).
    assert gone.wait(20), "ephemeral outlived its session"
    assert time.monotonic() - started >= 3.0
    assert observer.exists(eph) is None


@pytest.mark.slow
def test_expired_session_makes_kazoo_start_a_new_one(make_client, make_proxy, base):
    proxy = make_proxy()
    c = make_client(hosts=proxy.hostport, timeout=4.0)
    states = record_states(c)
    observer = make_client()
    old_id = c.client_id[0]
    eph = c.create(f"{base}/eph", ephemeral=True)
    proxy.refuse()
    wait_until(lambda: observer.exists(eph) is None, 20, interval=0.2,
               what="the session to expire")
    proxy.heal()
    # The server answers the old session's reconnect with timeout 0.
    wait_until(lambda: KazooState.LOST in states, 15, what="LOST")
    wait_until(lambda: c.connected, 15, what="a new session")
    assert c.client_id[0] != old_id
    assert c.exists(eph) is None


def test_stop_removes_ephemerals_at_once(make_client, base):
    c = make_client()
    observer = make_client()
    eph = c.create(f"{base}/eph", ephemeral=True)
    seq = c.create(f"{base}/seq-", ephemeral=True, sequence=True)
    c.stop()
    assert observer.exists(eph) is None
    assert observer.exists(seq) is None


def test_stop_fires_watches_of_others_on_the_ephemerals(make_client, base):
    c = make_client()
    observer = make_client()
    eph = c.create(f"{base}/eph", ephemeral=True)
    fired = threading.Event()
    observer.exists(eph, watch=lambda e: fired.set())
    c.stop()
    assert fired.wait(10)


def test_sync_returns_the_path_and_orders_reads_after_other_writes(make_client, base):
    a = make_client()
    b = make_client()
    b.create(f"{base}/n", b"x")
    assert a.sync(f"{base}/n") == f"{base}/n"
    assert a.get(f"{base}/n")[0] == b"x"


def test_close_request_ends_the_session_for_a_raw_client(client, raw_session, base):
    s = raw_session()
    _, _, sid, pw = s.connect()
    s.request(1, write_string(f"{base}/e") + struct.pack("!i", 0)
              + struct.pack("!i", 1) + struct.pack("!i", 31)
              + write_string("world") + write_string("anyone") + struct.pack("!i", 1))
    _, _, err, _ = s.read_reply()
    assert err == 0
    assert client.exists(f"{base}/e").ephemeralOwner == sid
    s.request(-11, b"")  # closeSession
    xid, _, err, _ = s.read_reply()
    assert (xid, err) == (s.xid, 0)
    assert s.closed_by_server(10)
    assert client.exists(f"{base}/e") is None
    again = raw_session()
    assert again.connect(session_id=sid, passwd=pw)[1] == 0
