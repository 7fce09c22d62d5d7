"""Entry points of the processes started by the acceptance tests (importable
by multiprocessing's spawn start method)."""

from __future__ import annotations

import json
import time
from typing import Any

import coord


def increment(address: str, rounds: int, out: Any) -> None:
    """`rounds` times: under the lock, check the token grew and add one."""
    violations = 0
    with coord.Client(address, session_timeout=10.0) as c:
        lock = c.lock("/accept/lock", timeout=60)
        for _ in range(rounds):
            with lock as token:
                data, _ = c.get("/accept/state")
                state = json.loads(data)
                if token <= state["token"]:
                    violations += 1
                c.set("/accept/state", json.dumps({"count": state["count"] + 1, "token": token}).encode())
    out.put(violations)


def candidate(address: str, name: str, out: Any) -> None:
    """Campaigns, reports the time it was elected, then holds until killed."""
    with coord.Client(address, session_timeout=1.0) as c:
        e = c.election("/accept/election", name)
        e.campaign(timeout=60)
        out.put((name, time.monotonic()))
        time.sleep(120)
