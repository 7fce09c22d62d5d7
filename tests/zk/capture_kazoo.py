#!/usr/bin/env python3
"""kazoo scenario for tests/zk/capture.sh: drives kazoo 2.11.0 clients through
tests/zk/record_proxy.py so that core/server/src/server/zk/testdata/kazoo.txt holds
real kazoo <-> ZooKeeper 3.8 frames.

    capture_kazoo.py --hosts 127.0.0.1:PROXYPORT --control 127.0.0.1:CONTROLPORT

Each step first sends "note STEP" to the proxy's control port, so the capture
carries "# STEP" before the frames of that step.  Errors that ZooKeeper
returns are expected and kept (they are the point of several steps).

kazoo 2.11.0 has no API for container or TTL nodes, persistent watches,
removing watches, multiRead or whoAmI, and never sends SetWatches on
reconnect.  The last connection therefore sends those requests through
kazoo's own connection machinery (kazoo's framing and xids) with request
bodies built here from ZooKeeper's jute definitions; those steps say
"crafted" in their note.  The server's replies to them are real.
"""

import argparse
import logging
import socket
import struct
import sys
import threading
import time
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.serialization import (
    Create2,
    GetChildren,
    GetData,
    Transaction,
    int_struct,
    write_string,
)
from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE

CTL = None
TIMEOUT = 5.0  # bound on every single kazoo call


def ctl(cmd):
    with socket.create_connection(CTL, timeout=5) as s:
        s.sendall(cmd.encode() + b"\n")
        s.recv(16)


def step(text, client=None, new=False):
    """Note TEXT in the capture: before the next connection (new=True), in
    CLIENT's connection, or in every open connection."""
    print(f"kazoo: {text}", file=sys.stderr)
    if new:
        ctl(f"note-next {text}")
        return
    port = None
    try:
        port = client._connection._socket.getsockname()[1]
    except (AttributeError, OSError):
        pass
    ctl(f"note @{port} {text}" if port else f"note {text}")


def attempt(label, fn, *args, **kw):
    """Run one kazoo call; ZooKeeper errors are results too."""
    try:
        r = fn(*args, **kw)
        if hasattr(r, "get"):
            r = r.get(timeout=TIMEOUT)
        print(f"kazoo:   {label} -> {r!r}"[:300], file=sys.stderr)
        return r
    except (KazooException, Exception) as e:  # noqa: B014 - log any failure
        print(f"kazoo:   {label} -> {type(e).__name__} {e}", file=sys.stderr)
        return e


def new_client(hosts, **kw):
    kw.setdefault("timeout", 4.0)  # ZooKeeper's minimum with tickTime 2000
    return KazooClient(hosts=hosts, **kw)


# --- requests kazoo 2.11.0 has no API for (see the module docstring) -------

class RawReply:
    @classmethod
    def deserialize(cls, buf, offset):
        return bytes(buf[offset:])


class CreateContainer(RawReply, Create2):
    type = 19  # CreateRequest body, Create2Response reply


class CreateTTL(RawReply, namedtuple("CreateTTL", "path data acl flags ttl")):
    type = 21  # CreateTTLRequest

    def serialize(self):
        b = Create2(self.path, self.data, self.acl, self.flags).serialize()
        return b + struct.pack(">q", self.ttl)


class AddWatch(RawReply, namedtuple("AddWatch", "path mode")):
    type = 106  # AddWatchRequest {path, mode}

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)


class CheckWatches(RawReply, namedtuple("CheckWatches", "path wtype")):
    type = 17  # CheckWatchesRequest {path, type}

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.wtype)


class RemoveWatches(CheckWatches):
    type = 18  # RemoveWatchesRequest {path, type}


class MultiRead(RawReply, Transaction):
    type = 22  # same body as multi, read ops only


class WhoAmI(RawReply):
    # not an empty namedtuple: kazoo skips the reply of a falsy request
    type = 107

    def serialize(self):
        return b""


class GetEphemerals(RawReply, namedtuple("GetEphemerals", "prefix")):
    type = 103

    def serialize(self):
        return write_string(self.prefix)


class GetAllChildrenNumber(RawReply, namedtuple("GetAllChildrenNumber", "path")):
    type = 104

    def serialize(self):
        return write_string(self.path)


def raw_call(client, request):
    ar = client.handler.async_result()
    client._call(request, ar)
    return ar


# ---------------------------------------------------------------------------

def main():
    global CTL
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", required=True)
    p.add_argument("--control", required=True)
    a = p.parse_args()
    h, _, port = a.control.rpartition(":")
    CTL = (h, int(port))
    hosts = a.hosts
    logging.basicConfig(level=logging.ERROR)

    step("client 1 starts: ConnectRequest (new session, timeout 4000 ms)", new=True)
    c1 = new_client(hosts)
    c1.start(timeout=10)

    step("create persistent /k = 'hello' (create, opcode 1)", client=c1)
    attempt("create /k", c1.create, "/k", b"hello")
    step("create ephemeral /k/eph", client=c1)
    attempt("create eph", c1.create, "/k/eph", b"e", ephemeral=True)
    step("create sequential /k/seq-", client=c1)
    attempt("create seq", c1.create, "/k/seq-", b"s", sequence=True)
    step("create ephemeral-sequential /k/eseq-", client=c1)
    attempt("create eseq", c1.create, "/k/eseq-", b"es", ephemeral=True, sequence=True)
    step("create /k/c2 with include_data=True (create2, opcode 15)", client=c1)
    attempt("create2", c1.create, "/k/c2", b"c2", include_data=True)
    step("create2 ephemeral-sequential /k/c2seq- with include_data=True", client=c1)
    attempt("create2 eseq", c1.create, "/k/c2seq-", b"", ephemeral=True, sequence=True, include_data=True)
    step("create of existing /k (NodeExists, -110)", client=c1)
    attempt("create dup", c1.create, "/k", b"again")
    step("create /nope/child under a missing parent (NoNode, -101)", client=c1)
    attempt("create no parent", c1.create, "/nope/child", b"")
    step("create2 of existing /k (NodeExists)", client=c1)
    attempt("create2 dup", c1.create, "/k", b"again", include_data=True)

    step("create /k/doomed (for a NodeDeleted event later)", client=c1)
    attempt("create doomed", c1.create, "/k/doomed", b"")

    step("get /k with a data watch (getData, opcode 4, watch=true)", client=c1)
    fired = []
    ev = threading.Event()

    def w(event):
        fired.append(event)
        print(f"kazoo:   watch fired: {event}", file=sys.stderr)
        if len(fired) >= 4:
            ev.set()

    attempt("get /k", c1.get, "/k", watch=w)
    step("get of missing /missing (NoNode)", client=c1)
    attempt("get missing", c1.get, "/missing")
    step("exists /k with watch (exists, opcode 3)", client=c1)
    attempt("exists /k", c1.exists, "/k", watch=w)
    step("exists /missing with watch (reply err NoNode, watch set anyway)", client=c1)
    attempt("exists /missing", c1.exists, "/missing", watch=w)
    step("get_children /k with watch (getChildren, opcode 8)", client=c1)
    attempt("ls /k", c1.get_children, "/k", watch=w)
    step("get_children /k include_data=True with watch (getChildren2, opcode 12)", client=c1)
    attempt("ls2 /k", c1.get_children, "/k", watch=w, include_data=True)
    step("get_children of missing /missing (NoNode)", client=c1)
    attempt("ls missing", c1.get_children, "/missing")
    step("exists /k/doomed with a watch (client 2 deletes it: NodeDeleted)", client=c1)
    attempt("exists doomed", c1.exists, "/k/doomed", watch=w)

    step("client 2 starts (second connection) to fire client 1's watches", new=True)
    c2 = new_client(hosts)
    c2.start(timeout=10)
    step("client 2: set /k (fires NodeDataChanged on client 1)", client=c2)
    attempt("c2 set /k", c2.set, "/k", b"changed")
    step("client 2: create /missing (fires NodeCreated on client 1)", client=c2)
    attempt("c2 create /missing", c2.create, "/missing", b"now here")
    step("client 2: create /k/new (fires NodeChildrenChanged on client 1)", client=c2)
    attempt("c2 create /k/new", c2.create, "/k/new", b"")
    step("client 2: delete /k/doomed (fires NodeDeleted on client 1; the child watch on /k already fired)", client=c2)
    attempt("c2 delete doomed", c2.delete, "/k/doomed")
    ev.wait(5)
    print(f"kazoo:   {len(fired)} watch events", file=sys.stderr)
    time.sleep(0.3)

    step("set /k with wrong version 99 (BadVersion, -103)", client=c1)
    attempt("set badversion", c1.set, "/k", b"x", version=99)
    step("set /k with any version (-1) (setData, opcode 5)", client=c1)
    st = attempt("set /k", c1.set, "/k", b"set by c1")
    step("set of missing /gone (NoNode)", client=c1)
    attempt("set missing", c1.set, "/gone", b"x")

    step("delete /missing with wrong version 7 (BadVersion)", client=c1)
    attempt("delete badversion", c1.delete, "/missing", version=7)
    step("delete non-empty /k (NotEmpty, -111)", client=c1)
    attempt("delete nonempty", c1.delete, "/k")
    step("delete /missing (delete, opcode 2)", client=c1)
    attempt("delete", c1.delete, "/missing")
    step("delete of missing /missing (NoNode)", client=c1)
    attempt("delete missing", c1.delete, "/missing")

    step("multi that commits: create /t1, set /k, check /k, delete /t1 (multi, opcode 14)", client=c1)
    cur = c1.exists("/k")
    t = c1.transaction()
    t.create("/t1", b"t1")
    t.set_data("/k", b"in txn", version=cur.version)
    t.check("/k", cur.version + 1)
    t.delete("/t1")
    attempt("txn ok", t.commit)
    step("multi that fails in the middle: create /t2, check /k version 999 (fails), create /t3", client=c1)
    t = c1.transaction()
    t.create("/t2", b"")
    t.check("/k", 999)
    t.create("/t3", b"")
    attempt("txn fail", t.commit)
    step("multi that fails on its last op: set /k, delete /k (NotEmpty)", client=c1)
    t = c1.transaction()
    t.set_data("/k", b"y")
    t.delete("/k")
    attempt("txn fail2", t.commit)

    step("sync /k (sync, opcode 9)", client=c1)
    attempt("sync", c1.sync, "/k")

    step("get_acls /k (getACL, opcode 6)", client=c1)
    attempt("getacl", c1.get_acls, "/k")
    step("set_acls /k world:anyone all, version -1 (setACL, opcode 7)", client=c1)
    attempt("setacl", c1.set_acls, "/k", OPEN_ACL_UNSAFE)
    step("set_acls /k with wrong ACL version 42 (BadVersion)", client=c1)
    attempt("setacl badversion", c1.set_acls, "/k", OPEN_ACL_UNSAFE, version=42)
    step("get_acls of missing /gone (NoNode)", client=c1)
    attempt("getacl missing", c1.get_acls, "/gone")

    step("add_auth digest user:secret (auth packet, xid -4, opcode 100)", client=c1)
    attempt("addauth digest", c1.add_auth, "digest", "user:secret")
    step("create /k/secret with a digest ACL for user:secret only, then get_acls it", client=c1)
    acl = make_digest_acl("user", "secret", all=True)
    attempt("create digest acl", c1.create, "/k/secret", b"s", acl=[acl])
    attempt("getacl digest", c1.get_acls, "/k/secret")
    attempt("get /k/secret (authorised)", c1.get, "/k/secret")
    step("client 2 (not authenticated): get /k/secret (NoAuth, -102)", client=c2)
    attempt("c2 get secret", c2.get, "/k/secret")
    step("set_acls with an invalid ACL scheme (InvalidACL, -114)", client=c1)
    from kazoo.security import ACL, Id
    attempt("setacl invalid", c1.set_acls, "/k", [ACL(31, Id("nosuchscheme", "x"))])

    step("client 2: close (closeSession, opcode -11)", client=c2)
    c2.stop()
    c2.close()

    step("ping: client 1 idle 3.5 s (session timeout 4 s, kazoo pings after ~1/3)", client=c1)
    time.sleep(3.5)

    step("reconfig in standalone (reconfig, opcode 16; expect an error)", client=c1)
    attempt("reconfig", c1.reconfig, joining="server.9=127.0.0.1:2888:3888;2181", leaving=None, new_members=None)

    step("set data and child watches on client 1, then the proxy drops the connection", client=c1)
    attempt("get /k watch", c1.get, "/k", watch=w)
    attempt("ls /k watch", c1.get_children, "/k", watch=w)
    attempt("exists /later watch", c1.exists, "/later", watch=w)
    sid, passwd = c1.client_id
    states = []
    connected_again = threading.Event()

    def listener(state):
        states.append(state)
        if state == "CONNECTED" and len(states) > 1:
            connected_again.set()

    c1.add_listener(listener)
    step("client 1 reconnects: ConnectRequest resuming the session (kazoo 2.11 sends no SetWatches)", new=True)
    ctl("drop")
    connected_again.wait(10)
    time.sleep(0.5)
    print(f"kazoo:   states {states}", file=sys.stderr)
    step("client 1 after resume: exists /k (kazoo re-sent the digest auth first)", client=c1)
    attempt("exists after resume", c1.exists, "/k")

    step("client 3: resume client 1's live session with a wrong password (ConnectResponse timeout 0, session 0);"
         " the server closes client 1's connection first, so client 1 reconnects too (resuming);"
         " kazoo's client 3 then starts a new session and closes it", new=True)
    c3 = new_client(hosts, client_id=(sid, b"\x00" * 16))
    attempt("c3 start", c3.start, timeout=6)
    time.sleep(0.5)
    c3.stop()
    c3.close()

    step("add_auth with an unknown scheme 'bogus' (AuthFailed -115; the server closes the connection)."
         " kazoo then opens a new session, re-sends the bogus auth (AuthFailed again) and gives up", client=c1)
    attempt("addauth bogus", c1.add_auth, "bogus", "whatever")
    time.sleep(1.0)
    print(f"kazoo:   c1 state {c1.state}", file=sys.stderr)
    try:
        c1.stop()
        c1.close()
    except Exception as e:  # noqa: BLE001
        print(f"kazoo:   c1 stop: {e}", file=sys.stderr)

    step("client 4: resume client 1's session (correct password) after the auth failure", new=True)
    c4 = new_client(hosts, client_id=(sid, passwd))
    attempt("c4 start", c4.start, timeout=6)
    attempt("c4 get /k", c4.get, "/k")
    step("client 4: close (closeSession)", client=c4)
    c4.stop()
    c4.close()

    step("client 5: resume the session client 4 closed (expired: ConnectResponse timeout 0);"
         " kazoo then starts a new session and closes it", new=True)
    c5 = new_client(hosts, client_id=(sid, passwd))
    attempt("c5 start", c5.start, timeout=6)
    time.sleep(0.5)
    c5.stop()
    c5.close()

    # ---- crafted requests over kazoo's connection (see docstring) ----------
    step("client 6: new session for the crafted requests", new=True)
    c6 = new_client(hosts)
    c6.start(timeout=10)
    step("crafted createContainer /ctr (opcode 19, flags 4)", client=c6)
    attempt("container", raw_call, c6, CreateContainer("/ctr", b"c", OPEN_ACL_UNSAFE, 4))
    attempt("child of container", c6.create, "/ctr/x", b"")
    step("crafted createTTL /ttl ttl=60000 (opcode 21, flags 5 = PERSISTENT_WITH_TTL)", client=c6)
    attempt("ttl", raw_call, c6, CreateTTL("/ttl", b"t", OPEN_ACL_UNSAFE, 5, 60000))
    step("crafted createTTL /ttlseq- ttl=60000 (flags 6 = PERSISTENT_SEQUENTIAL_WITH_TTL)", client=c6)
    attempt("ttl seq", raw_call, c6, CreateTTL("/ttlseq-", b"", OPEN_ACL_UNSAFE, 6, 60000))
    step("crafted createTTL with ttl=0 (invalid: BadArguments, -8)", client=c6)
    attempt("ttl bad", raw_call, c6, CreateTTL("/ttlbad", b"", OPEN_ACL_UNSAFE, 5, 0))
    step("crafted createTTL with flags 0 (not a TTL mode)", client=c6)
    attempt("ttl bad mode", raw_call, c6, CreateTTL("/ttlbad2", b"", OPEN_ACL_UNSAFE, 0, 1000))
    step("crafted addWatch /k PERSISTENT (opcode 106, mode 0)", client=c6)
    attempt("addwatch p", raw_call, c6, AddWatch("/k", 0))
    step("crafted addWatch /k PERSISTENT_RECURSIVE (mode 1)", client=c6)
    attempt("addwatch pr", raw_call, c6, AddWatch("/k", 1))
    step("set /k and create /k/deep then /k/deep/er: persistent and recursive events (xid -1)", client=c6)
    attempt("set /k", c6.set, "/k", b"p1")
    attempt("create deep", c6.create, "/k/deep", b"")
    attempt("create deeper", c6.create, "/k/deep/er", b"")
    attempt("set deeper", c6.set, "/k/deep/er", b"zz")
    time.sleep(0.5)
    step("crafted checkWatches /k type Data (opcode 17, type 2)", client=c6)
    attempt("checkwatches data", raw_call, c6, CheckWatches("/k", 2))
    step("crafted checkWatches /nowatch type Any (NoWatcher, -121)", client=c6)
    attempt("checkwatches none", raw_call, c6, CheckWatches("/nowatch", 3))
    step("get /k/c2 with a one-shot watch, then crafted removeWatches /k/c2 type Data (opcode 18)", client=c6)
    attempt("get watch", c6.get, "/k/c2", watch=lambda e: None)
    attempt("removewatches", raw_call, c6, RemoveWatches("/k/c2", 2))
    step("crafted removeWatches /k type Any (removes the persistent watches)", client=c6)
    attempt("removewatches any", raw_call, c6, RemoveWatches("/k", 3))
    step("crafted removeWatches /nowatch type Children (NoWatcher)", client=c6)
    attempt("removewatches none", raw_call, c6, RemoveWatches("/nowatch", 1))
    step("crafted multiRead: getChildren /k, getData /k, getData /missing (opcode 22)", client=c6)
    attempt("multiread", raw_call, c6, MultiRead([GetChildren("/k", None), GetData("/k", None), GetData("/missing", None)]))
    step("crafted whoAmI (opcode 107)", client=c6)
    attempt("whoami", raw_call, c6, WhoAmI())
    step("crafted getEphemerals '/' (opcode 103)", client=c6)
    attempt("create eph", c6.create, "/k/eph6", b"", ephemeral=True)
    attempt("getephemerals", raw_call, c6, GetEphemerals("/"))
    step("crafted getAllChildrenNumber /k (opcode 104)", client=c6)
    attempt("getallchildrennumber", raw_call, c6, GetAllChildrenNumber("/k"))
    step("wait 3 s so the empty container /ctr2 is reaped (checkIntervalMs 1000)", client=c6)
    attempt("container2", raw_call, c6, CreateContainer("/ctr2", b"", OPEN_ACL_UNSAFE, 4))
    attempt("child", c6.create, "/ctr2/x", b"")
    attempt("delete child", c6.delete, "/ctr2/x")
    time.sleep(3)
    attempt("exists /ctr2 after reap", c6.exists, "/ctr2")
    step("client 6: close (closeSession)", client=c6)
    c6.stop()
    c6.close()
    print("kazoo: done", file=sys.stderr)


if __name__ == "__main__":
    main()
