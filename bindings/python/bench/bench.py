"""Python client vs Rust client, per operation: `get` of a 100 B node and an
uncontended lock cycle (acquire + release), one client, back to back.
Prints a markdown table. Normally started by `bench/run.sh`, which builds
and installs everything in release mode and starts the server.

Two setups, both measured side by side in one run:
- `--servers ADDR --baseline EXE`: against a `coord serve` process, the Rust
  side being `client_baseline` (core/client/examples), a `#[tokio::main]` program of
  its own: the same method as the C and Node benchmarks. It runs twice per
  round: its loops on the main thread (`main`, a blocking caller outside the
  runtime's workers, as Python's calls are) and inside a spawned task
  (`in-task`, next to the connection's own tasks, the fastest shape). Rounds
  alternate Rust and Python; the table shows the median round of each.
- `--in-process`: an in-process server (`coord.testing.Server`), the Rust
  loops running inside the extension on the runtime that also runs the
  server and the client's connection (`_coord.bench_rust`). No context
  switch separates that Rust loop from the server, so this shows the whole
  cost of crossing from a Python thread into the runtime and back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import coord
import coord.testing
from coord import _coord

GET_NODE = "/bench-py-get"
LOCK_PATH = "/bench-py-lock"


def rate(seconds: float, op: Callable[[], object]) -> float:
    """Ops/s of `op` run back to back for `seconds`, after a 10% warm-up."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds / 10:
        op()
    n = 0
    start = time.perf_counter()
    while True:
        op()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def python_round(c: coord.Client, seconds: float) -> Dict[str, float]:
    try:
        c.create(GET_NODE, b"x" * 100)
    except coord.NodeExistsError:
        pass
    lock = c.lock(LOCK_PATH)

    def cycle() -> None:
        lock.acquire()
        lock.release()

    return {
        "get": rate(seconds, lambda: c.get(GET_NODE)),
        "lockCycle": rate(seconds, cycle),
    }


def rust_round(baseline: str, servers: str, seconds: float, shape: str) -> Dict[str, float]:
    out = subprocess.run(
        [baseline, servers, str(int(seconds * 1000)), shape],
        check=True,
        capture_output=True,
        text=True,
        timeout=60 + 4 * seconds,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def row(name: str, rust: float, py: float) -> str:
    slower = (rust / py - 1) * 100
    verdict = "PASS" if slower <= 25 else "MISS"
    return (
        f"| {name} | {rust:,.0f} | {py:,.0f} | {1e6 / rust:.1f} "
        f"| {1e6 / py:.1f} | {slower:+.1f}% | {verdict} |"
    )


HEADER = [
    "| operation | Rust ops/s | Python ops/s | Rust us/op | Python us/op "
    "| Python slower per op | target <= 25% |",
    "|---|---:|---:|---:|---:|---:|---|",
]
OPS = (("get (100 B)", "get"), ("lock cycle, uncontended", "lockCycle"))


def median(rounds: List[Dict[str, float]]) -> Dict[str, float]:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


def against_server(servers: str, baseline: str, seconds: float, rounds: int) -> None:
    shapes = ("main", "in-task")
    rust: Dict[str, List[Dict[str, float]]] = {shape: [] for shape in shapes}
    py: List[Dict[str, float]] = []
    with coord.Client(servers) as c:
        for i in range(rounds):
            for shape in shapes:
                rust[shape].append(rust_round(baseline, servers, seconds, shape))
            py.append(python_round(c, seconds))
            print(f"round {i + 1}: rust {[rust[s][-1] for s in shapes]} python {py[-1]}",
                  file=sys.stderr)
    print(
        f"Against `coord serve` (release) on {servers}; median of {rounds} "
        f"alternating rounds, {seconds:g} s per workload. Rust `main`: the loops "
        "run on the `#[tokio::main]` thread (a blocking caller, like Python's); "
        "Rust `in-task`: inside a spawned task, on a runtime worker."
    )
    print()
    print("\n".join(HEADER))
    py_med = median(py)
    for shape in shapes:
        rs_med = median(rust[shape])
        for name, key in OPS:
            print(row(f"{name} vs Rust `{shape}`", rs_med[key], py_med[key]))
    print()
    print("| round | Rust main get/s | Rust in-task get/s | Python get/s "
          "| Rust main cycles/s | Rust in-task cycles/s | Python cycles/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for i, p in enumerate(py):
        m, t = rust["main"][i], rust["in-task"][i]
        print(
            f"| {i + 1} | {m['get']:,.0f} | {t['get']:,.0f} | {p['get']:,.0f} "
            f"| {m['lockCycle']:,.0f} | {t['lockCycle']:,.0f} | {p['lockCycle']:,.0f} |"
        )


def in_process(n: int) -> None:
    with coord.testing.Server() as server, coord.Client(server.address) as c:
        c.create(GET_NODE, b"x" * 100)
        lock = c.lock(LOCK_PATH)
        for _ in range(n // 10):  # warm-up
            c.get(GET_NODE)
        t = time.perf_counter()
        for _ in range(n):
            c.get(GET_NODE)
        py_get = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(n):
            lock.acquire()
            lock.release()
        py_lock = time.perf_counter() - t
        rs_get, rs_lock = _coord.bench_rust(c._core, GET_NODE, "/bench-rs-lock", n)
    print(f"In-process server, Rust loop inside the extension's runtime, n={n}:")
    print()
    print("\n".join(HEADER))
    print(row("get (100 B)", n / rs_get, n / py_get))
    print(row("lock cycle, uncontended", n / rs_lock, n / py_lock))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", help="a running coord server (host:port)")
    ap.add_argument("--baseline", help="path of the client_baseline example binary")
    ap.add_argument("--seconds", type=float, default=3.0, help="per workload and round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--in-process", type=int, metavar="N", default=0,
                    help="also run the in-process comparison with N ops each")
    args = ap.parse_args()
    if args.servers:
        if not args.baseline:
            ap.error("--servers needs --baseline")
        against_server(args.servers, args.baseline, args.seconds, args.rounds)
        print()
    if args.in_process:
        in_process(args.in_process)


if __name__ == "__main__":
    main()
