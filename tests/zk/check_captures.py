#!/usr/bin/env python3
"""Decodes the ZooKeeper wire captures in core/server/src/server/zk/testdata/*.txt
(written by tests/zk/capture.sh) far enough to check them: ConnectRequest /
ConnectResponse, every RequestHeader and ReplyHeader, replies matched to
requests by xid, multi sub-operations, and watch notifications.

    tests/zk/check_captures.py [-v] [FILE...]

Prints, per file, the request opcode histogram, the multi sub-op histogram,
and the error codes seen per opcode. -v prints every frame. Exits 1 when a
file does not parse (bad line, odd hex, a reply with no request).
"""

import struct
import sys
from collections import Counter, defaultdict
from pathlib import Path

OPS = {
    0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData",
    5: "setData", 6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync",
    11: "ping", 12: "getChildren2", 13: "check", 14: "multi", 15: "create2",
    16: "reconfig", 17: "checkWatches", 18: "removeWatches",
    19: "createContainer", 20: "deleteContainer", 21: "createTTL",
    22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl",
    103: "getEphemerals", 104: "getAllChildrenNumber", 105: "setWatches2",
    106: "addWatch", 107: "whoAmI", -10: "createSession", -11: "closeSession",
    -1: "error",
}
ERRS = {
    0: "OK", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency",
    -4: "ConnectionLoss", -5: "MarshallingError", -6: "Unimplemented",
    -7: "OperationTimeout", -8: "BadArguments", -13: "NewConfigNoQuorum",
    -14: "ReconfigInProgress", -15: "UnknownSession", -100: "APIError",
    -101: "NoNode", -102: "NoAuth", -103: "BadVersion",
    -108: "NoChildrenForEphemerals", -110: "NodeExists", -111: "NotEmpty",
    -112: "SessionExpired", -113: "InvalidCallback", -114: "InvalidACL",
    -115: "AuthFailed", -118: "SessionMoved", -119: "NotReadOnly",
    -120: "EphemeralOnLocalSession", -121: "NoWatcher",
    -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth",
    -125: "QuotaExceeded", -127: "Throttled",
}
EVENTS = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
          4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved",
          7: "PersistentWatchRemoved"}
SPECIAL_XIDS = {-1: "notification", -2: "ping", -4: "auth", -8: "setWatches"}
STAT_LEN = 68


class R:
    def __init__(self, b):
        self.b, self.o = b, 0

    def int(self):
        v = struct.unpack_from(">i", self.b, self.o)[0]; self.o += 4; return v

    def long(self):
        v = struct.unpack_from(">q", self.b, self.o)[0]; self.o += 8; return v

    def bool(self):
        v = self.b[self.o]; self.o += 1; return v

    def buf(self):
        n = self.int()
        if n < 0:
            return None
        v = self.b[self.o:self.o + n]
        if len(v) != n:
            raise ValueError("buffer runs past the frame")
        self.o += n
        return v

    def str(self):
        v = self.buf()
        return None if v is None else v.decode()

    def skip(self, n):
        if self.o + n > len(self.b):
            raise ValueError("runs past the frame")
        self.o += n

    def acls(self):
        return [(self.int(), self.str(), self.str()) for _ in range(self.int())]

    def left(self):
        return len(self.b) - self.o


def parse_sub_request(r, t):
    if t in (1, 15, 19):
        return f"{r.str()} flags={(r.buf(), r.acls(), r.int())[2]}"
    if t == 21:
        p = r.str(); r.buf(); r.acls(); f = r.int()
        return f"{p} flags={f} ttl={r.long()}"
    if t in (2, 13):
        return f"{r.str()} version={r.int()}"
    if t == 5:
        p = r.str(); r.buf(); return f"{p} version={r.int()}"
    if t in (4, 8):
        return f"{r.str()} watch={r.bool()}"
    raise ValueError(f"unknown multi sub-op {t}")


def parse_sub_reply(r, t):
    if t == -1:
        e = r.int(); return f"error {e} {ERRS.get(e, '?')}"
    if t == 1:
        return r.str()
    if t in (15, 19, 21):
        p = r.str(); r.skip(STAT_LEN); return p
    if t in (2, 13):
        return ""
    if t == 5:
        r.skip(STAT_LEN); return "stat"
    if t == 8:
        return str([r.str() for _ in range(r.int())])
    if t == 4:
        d = r.buf(); r.skip(STAT_LEN); return repr(d)
    raise ValueError(f"unknown multi sub-reply {t}")


def multi(r, reply):
    parts = []
    while True:
        t, done, err = r.int(), r.bool(), r.int()
        if done:
            if (t, err) != (-1, -1):
                raise ValueError(f"odd multi end header {t} {err}")
            break
        name = OPS.get(t, str(t))
        body = parse_sub_reply(r, t) if reply else parse_sub_request(r, t)
        parts.append((t, err, f"{name}(err={err}) {body}".strip() if reply else f"{name} {body}"))
    if r.left():
        raise ValueError(f"{r.left()} bytes after the multi")
    return parts


def check_file(path, verbose):
    ops, subops, errs, notes = Counter(), Counter(), defaultdict(Counter), Counter()
    conn, problems = None, []
    lines = Path(path).read_text().splitlines()
    state = {}
    for lineno, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        if line.startswith("= connection "):
            conn = line
            state = {"pending": {}, "connect": False, "connected": False}
            if verbose:
                print(line)
            continue
        kind, _, hx = line.partition(" ")
        if kind not in ("C", "S") or conn is None or hx != hx.lower():
            problems.append(f"{path}:{lineno}: bad line"); continue
        try:
            b = bytes.fromhex(hx)
            assert b.hex() == hx
            r = R(b)
            if kind == "C" and not state["connect"]:
                state["connect"] = True
                pv, zx, to, sid = r.int(), r.long(), r.int(), r.long()
                pw = r.buf()
                ro = f" readOnly={r.bool()}" if r.left() else " (no readOnly byte)"
                desc = f"ConnectRequest proto={pv} lastZxid={zx:#x} timeout={to} session={sid:#x} passwd={len(pw)}B{ro} len={len(b)}"
                ops["(connect)"] += 1
            elif kind == "S" and not state["connected"]:
                state["connected"] = True
                pv, to, sid = r.int(), r.int(), r.long()
                pw = r.buf()
                ro = f" readOnly={r.bool()}" if r.left() else " (no readOnly byte)"
                desc = f"ConnectResponse proto={pv} timeout={to} session={sid:#x} passwd={len(pw)}B{ro} len={len(b)}"
                if to == 0:
                    notes["ConnectResponse with timeout 0 (session rejected)"] += 1
            elif kind == "C":
                xid, t = r.int(), r.int()
                name = OPS.get(t, f"?{t}")
                ops[name] += 1
                state["pending"][xid] = t
                desc = f"request xid={xid} {name}({t})"
                if t in (14, 22):
                    for st, _, d in multi(r, False):
                        subops[OPS.get(st, str(st))] += 1
                    desc += " [" + "; ".join(d for _, _, d in multi(R(b[8:]), False)) + "]"
                elif t in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 18, 17, 19, 21, 103, 104, 106):
                    desc += f" {r.str()}"
            else:
                xid, zxid, err = r.int(), r.long(), r.int()
                if xid == -1:
                    et, ks, p = r.int(), r.int(), r.str()
                    desc = f"notification zxid={zxid:#x} err={err} event={EVENTS.get(et, et)}({et}) state={ks} path={p}"
                    errs["notification"][err] += 1
                    notes[f"event {EVENTS.get(et, et)}"] += 1
                else:
                    t = state["pending"].pop(xid, None)
                    if t is None:
                        problems.append(f"{path}:{lineno}: reply xid={xid} matches no request")
                        name = "?"
                    else:
                        name = OPS.get(t, f"?{t}")
                    errs[name][err] += 1
                    desc = f"reply xid={xid} {name} zxid={zxid:#x} err={err} {ERRS.get(err, '?')} body={len(b) - 16}B"
                    if t in (14, 22) and r.left():
                        desc += " [" + "; ".join(d for _, _, d in multi(r, True)) + "]"
        except Exception as e:  # noqa: BLE001
            problems.append(f"{path}:{lineno}: {type(e).__name__}: {e}")
            continue
        if verbose:
            print(f"  {kind} {desc}")
    return ops, subops, errs, notes, problems


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    files = [a for a in args if a != "-v"] or sorted(
        str(p) for p in (Path(__file__).resolve().parents[2] / "core/server/src/server/zk/testdata").glob("*.txt"))
    bad = False
    for f in files:
        ops, subops, errs, notes, problems = check_file(f, verbose)
        print(f"== {f}")
        print("  requests: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])))
        if subops:
            print("  multi sub-ops: " + ", ".join(f"{k} {v}" for k, v in sorted(subops.items())))
        for name, c in sorted(errs.items()):
            print(f"  replies {name}: " + ", ".join(f"{ERRS.get(e, e)}({e}) x{n}" for e, n in sorted(c.items())))
        for n, c in sorted(notes.items()):
            print(f"  {n}: {c}")
        for p in problems:
            print(f"  PROBLEM {p}")
        bad |= bool(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
