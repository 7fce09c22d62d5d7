"""Python vs Rust client, per operation, on one in-process server:
sequential `get` and lock cycles (acquire + release). Prints a table.

Run with a release build: `maturin develop --release` (or `pip install
./bindings/python`), then `python bindings/python/bench/bench.py [N]`.
"""

from __future__ import annotations

import sys
import time

import coord
import coord.testing
from coord import _coord


def main(n: int) -> None:
    with coord.testing.Server() as server, coord.Client(server.address) as c:
        c.create("/bench/node", b"x" * 100, make_parents=True)
        lock = c.lock("/bench/py-lock")
        for _ in range(200):  # warm up
            c.get("/bench/node")
        t = time.perf_counter()
        for _ in range(n):
            c.get("/bench/node")
        py_get = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(n):
            lock.acquire()
            lock.release()
        py_lock = time.perf_counter() - t
        rs_get, rs_lock = _coord.bench_rust(c._core, "/bench/node", "/bench/rs-lock", n)
    print(f"| operation (n={n}) | Rust ops/s | Python ops/s | Python slower per op |")
    print("|---|---|---|---|")
    for name, rs, py in (("get", rs_get, py_get), ("lock cycle", rs_lock, py_lock)):
        print(f"| {name} | {n / rs:,.0f} | {n / py:,.0f} | {100 * (py / rs - 1):+.1f}% |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
