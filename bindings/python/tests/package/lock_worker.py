"""One of the two processes of the package test's lock check (not a pytest
module): `python lock_worker.py ADDRESS NAME ROUNDS`.

Each round, under the lock `/pkg/lock`: marks itself inside with an
ephemeral `/pkg/inside` (NodeExists means the other process is inside too:
mutual exclusion broken), checks that its fencing token is above the last
token written to `/pkg/state` and writes its own, then leaves. Prints one
JSON line: rounds done, exclusion and token violations, tokens seen."""

from __future__ import annotations

import json
import sys
import time

import coord


def main() -> None:
    address, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    overlaps = 0
    regressions = 0
    tokens = []
    with coord.Client(address, session_timeout=10.0) as c:
        lock = c.lock("/pkg/lock", timeout=60)
        for _ in range(rounds):
            with lock as token:
                try:
                    c.create("/pkg/inside", name.encode(), ephemeral=True)
                except coord.NodeExistsError:
                    overlaps += 1
                data, _ = c.get("/pkg/state")
                if token <= int(data):
                    regressions += 1
                c.set("/pkg/state", str(token).encode())
                tokens.append(token)
                time.sleep(0.005)  # widen the window a second holder would hit
                try:
                    c.delete("/pkg/inside")
                except coord.NoNodeError:
                    pass
    print(json.dumps({"name": name, "rounds": len(tokens), "overlaps": overlaps,
                      "regressions": regressions, "tokens": tokens}))


if __name__ == "__main__":
    main()
