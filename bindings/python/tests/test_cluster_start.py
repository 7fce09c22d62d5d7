"""The test cluster's start survives a peer port taken between being picked
and being bound (another process's outgoing connection can take it): the
first pick here includes a port this test holds, so the first start fails on
it, and the retry, with new ports, must bring up a cluster with a leader."""

from __future__ import annotations

import socket
from typing import List

from cluster_util import Cluster, free_ports


def test_a_cluster_start_whose_peer_port_is_taken_retries_with_new_ports() -> None:
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    busy = held.getsockname()[1]
    picks: List[List[int]] = []

    def pick(n: int) -> List[int]:
        ports = [busy] + free_ports(n - 1) if not picks else free_ports(n)
        picks.append(ports)
        return ports

    try:
        with Cluster(3, pick_ports=pick) as c:
            assert len(picks) == 2, "one failed start on the held port, then one with new ports"
            assert busy not in picks[1]
            status = c.status(wait_for_leader=True, timeout=30)
            assert isinstance(status["leader"], int), status
    finally:
        held.close()


def test_peer_ports_come_from_below_the_ephemeral_range_distinct_and_bindable() -> None:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        top = int(f.read().split()[0])
    ports = free_ports(4)
    assert len(set(ports)) == 4, ports
    for p in ports:
        assert 10000 <= p < top, (p, top)
        s = socket.socket()
        s.bind(("127.0.0.1", p))
        s.close()
