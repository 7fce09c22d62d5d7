#!/usr/bin/env python3
"""Recording TCP proxy for ZooKeeper client traffic (Python 3.11 stdlib only).

Listens on 127.0.0.1:--port, forwards every accepted connection to --upstream,
and records each direction split into frames by the 4-byte big-endian length
prefix.  The capture file (--out) is rewritten whenever a connection ends and
when the proxy exits, in the format of core/server/src/server/zk/testdata/*.txt:

    # comment lines (--header lines, then notes sent on the control port)
    = connection 1
    C <hex of a client->server frame payload, without the length prefix>
    S <hex of a server->client frame payload>
    = connection 2
    ...

Bytes are forwarded as soon as they arrive (never held back until a frame is
complete), so recording does not change the timing the clients see; frames
are recorded before they are forwarded, so the order of C and S lines within a
connection respects causality (a reply never precedes its request).

Control port (--control-port, one line per TCP connection, answered "ok\\n"):
    note TEXT   insert "# TEXT" into every connection open right now (or, when
                none is open, before the next connection that opens)
    note @PORT TEXT
                insert "# TEXT" into the open connection whose client uses
                local port PORT (every open one when there is none)
    note-next TEXT
                insert "# TEXT" at the start of the next connection accepted
    drop        abort every open client connection and its upstream (RST), so
                that clients reconnect and resume their sessions
    flush       rewrite the capture file now
    quit        write the file and exit

Every socket wait is bounded; the proxy exits by itself after --max-seconds.
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()
CONNS = []  # list of Conn, in accept order
PENDING_NOTES = []  # notes given while no connection was open
OPTS = None
STOP = threading.Event()


class Conn:
    def __init__(self, num, client, upstream):
        self.num = num
        self.client = client
        try:
            self.client_port = client.getpeername()[1]
        except OSError:
            self.client_port = None
        self.upstream = upstream
        self.events = []  # ("C"|"S", bytes) or ("#", text)
        self.open = True
        self.dirs_done = 0

    def abort(self):
        for s in (self.client, self.upstream):
            try:
                # SO_LINGER 0: close() sends RST, like a network failure would.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


WRITE_LOCK = threading.Lock()


def write_capture():
    with WRITE_LOCK:
        _write_capture()


def _write_capture():
    with LOCK:
        lines = list(OPTS.header)
        for c in CONNS:
            lines.append(f"= connection {c.num}")
            for kind, payload in c.events:
                if kind == "#":
                    lines.append(f"# {payload}")
                else:
                    lines.append(f"{kind} {payload.hex()}")
        for n in PENDING_NOTES:
            lines.append(f"# {n}")
    tmp = OPTS.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, OPTS.out)


def pump(conn, src, dst, tag):
    """Copy src->dst, recording complete frames as (tag, payload)."""
    buf = b""
    src.settimeout(1.0)
    try:
        while not STOP.is_set():
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            # Record complete frames before forwarding them, so that a frame
            # the peer sends in reaction is always recorded after this one.
            with LOCK:
                while len(buf) >= 4:
                    (n,) = struct.unpack(">i", buf[:4])
                    if n < 0 or len(buf) < 4 + n:
                        break
                    conn.events.append((tag, buf[4:4 + n]))
                    buf = buf[4 + n:]
            try:
                dst.sendall(data)
            except OSError:
                pass
    finally:
        # Half-close: tell the other side no more bytes come this way, but
        # keep the opposite direction running until it ends too.
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with LOCK:
            if buf:
                who = "client" if tag == "C" else "server"
                conn.events.append(("#", f"{who} sent {len(buf)} bytes that are not a whole frame: {buf.hex()}"))
            conn.dirs_done += 1
            last = conn.dirs_done == 2
            if last:
                conn.open = False
        if last:
            for s in (conn.client, conn.upstream):
                try:
                    s.close()
                except OSError:
                    pass
            write_capture()


def accept_loop(lsock):
    lsock.settimeout(0.5)
    num = 0
    while not STOP.is_set():
        try:
            client, _ = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        try:
            upstream = socket.create_connection(OPTS.upstream, timeout=5)
        except OSError as e:
            print(f"record_proxy: upstream connect failed: {e}", file=sys.stderr)
            client.close()
            continue
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        num += 1
        conn = Conn(num, client, upstream)
        with LOCK:
            conn.events.extend(("#", n) for n in PENDING_NOTES)
            PENDING_NOTES.clear()
            CONNS.append(conn)
        for src, dst, tag in ((client, upstream, "C"), (upstream, client, "S")):
            threading.Thread(target=pump, args=(conn, src, dst, tag), daemon=True).start()


def control_loop(csock):
    csock.settimeout(0.5)
    while not STOP.is_set():
        try:
            s, _ = csock.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        with s:
            s.settimeout(5)
            data = b""
            try:
                while not data.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            line = data.decode("utf-8", "replace").strip()
            cmd, _, arg = line.partition(" ")
            if cmd == "note-next":
                with LOCK:
                    PENDING_NOTES.append(arg)
            elif cmd == "note":
                with LOCK:
                    open_conns = [c for c in CONNS if c.open]
                    if arg.startswith("@"):
                        port, _, arg = arg[1:].partition(" ")
                        mine = [c for c in open_conns if str(c.client_port) == port]
                        open_conns = mine or open_conns
                    for c in open_conns:
                        c.events.append(("#", arg))
                    if not open_conns:
                        PENDING_NOTES.append(arg)
            elif cmd == "drop":
                with LOCK:
                    open_conns = [c for c in CONNS if c.open]
                    for c in open_conns:
                        c.events.append(("#", "proxy: connection dropped (RST both ways) by the scenario"))
                for c in open_conns:
                    c.abort()
            elif cmd == "flush":
                write_capture()
            elif cmd == "quit":
                STOP.set()
            try:
                s.sendall(b"ok\n")
            except OSError:
                pass


def main():
    global OPTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    p.add_argument("--control-port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--header", action="append", default=[], help="comment line for the top of the file")
    p.add_argument("--max-seconds", type=float, default=600)
    OPTS = p.parse_args()
    host, _, port = OPTS.upstream.rpartition(":")
    OPTS.upstream = (host, int(port))
    OPTS.header = [h if h.startswith("#") else f"# {h}" for h in OPTS.header]

    lsock = socket.create_server(("127.0.0.1", OPTS.port))
    csock = socket.create_server(("127.0.0.1", OPTS.control_port))
    threading.Thread(target=accept_loop, args=(lsock,), daemon=True).start()
    threading.Thread(target=control_loop, args=(csock,), daemon=True).start()
    deadline = time.monotonic() + OPTS.max_seconds
    while not STOP.is_set() and time.monotonic() < deadline:
        STOP.wait(0.5)
    if not STOP.is_set():
        print("record_proxy: --max-seconds reached, exiting", file=sys.stderr)
    STOP.set()
    time.sleep(1.2)  # let the pumps notice STOP (their recv timeout is 1 s)
    lsock.close()
    csock.close()
    write_capture()


if __name__ == "__main__":
    main()
