"""The package test's lock check (not a pytest module):
`python lock_two_processes.py ADDRESS`. Starts two Python processes that
contend for one lock (lock_worker.py) and fails unless both finish all
rounds, neither saw the other inside, and the fencing tokens rise across
both processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import coord

ROUNDS = 25
TIMEOUT_S = 120


def main() -> None:
    address = sys.argv[1]
    with coord.Client(address) as c:
        c.create("/pkg/state", b"0", make_parents=True)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lock_worker.py")
    procs = [subprocess.Popen([sys.executable, worker, address, name, str(ROUNDS)],
                              stdout=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=TIMEOUT_S)
        if p.returncode != 0:
            sys.exit(f"lock worker exited with {p.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    tokens = sorted(t for r in results for t in r["tokens"])
    problems = []
    for r in results:
        if r["rounds"] != ROUNDS:
            problems.append(f"{r['name']} did {r['rounds']} of {ROUNDS} rounds")
        if r["overlaps"]:
            problems.append(f"{r['name']} found the other process inside the lock {r['overlaps']} times")
        if r["regressions"]:
            problems.append(f"{r['name']} got a token not above the previous holder's {r['regressions']} times")
        if r["tokens"] != sorted(r["tokens"]):
            problems.append(f"{r['name']}'s tokens did not rise: {r['tokens']}")
    if len(set(tokens)) != len(tokens):
        problems.append(f"two holds shared a fencing token: {tokens}")
    if problems:
        sys.exit("lock across two processes: " + "; ".join(problems))
    print(f"lock across two processes: {2 * ROUNDS} holds, mutual exclusion kept, "
          f"tokens rose {tokens[0]}..{tokens[-1]}")


if __name__ == "__main__":
    main()
