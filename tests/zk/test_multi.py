"""Multi (opcode 14) through kazoo's transaction(): all or nothing, and the
per-op results of a failed multi exactly as kazoo decodes ZooKeeper's reply
(ops before the failing one: RolledBackError, i.e. error 0; the failing op
its own error; ops after it: RuntimeInconsistency, error -2)."""

import queue

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, ZnodeStat


def test_transaction_applies_create_set_check_delete_together(client, base):
    client.create(f"{base}/old", b"o")
    client.create(f"{base}/cfg", b"v0")
    t = client.transaction()
    t.create(f"{base}/new", b"n")
    t.create(f"{base}/seq-", sequence=True)
    t.set_data(f"{base}/cfg", b"v1", version=0)
    t.check(f"{base}/cfg", 1)
    t.delete(f"{base}/old")
    results = t.commit()
    assert results[0] == f"{base}/new"
    assert results[1] == f"{base}/seq-0000000003"
    assert isinstance(results[2], ZnodeStat) and results[2].version == 1
    assert results[3:] == [True, True]
    assert client.get(f"{base}/new")[0] == b"n"
    assert client.get(f"{base}/cfg")[0] == b"v1"
    assert client.exists(f"{base}/old") is None
    # One zxid for the whole multi.
    assert client.exists(f"{base}/new").czxid == client.exists(f"{base}/cfg").mzxid


def test_failed_check_rolls_back_everything_and_reports_each_op(client, base):
    client.create(f"{base}/x", b"keep")
    t = client.transaction()
    t.create(f"{base}/a")
    t.check(f"{base}/x", 5)
    t.create(f"{base}/b")
    t.delete(f"{base}/x")
    results = t.commit()
    assert [type(r) for r in results] == [
        RolledBackError, BadVersionError, RuntimeInconsistency, RuntimeInconsistency]
    assert client.exists(f"{base}/a") is None
    assert client.exists(f"{base}/b") is None
    data, stat = client.get(f"{base}/x")
    assert (data, stat.version) == (b"keep", 0)


def test_failed_delete_of_missing_node_reports_no_node(client, base):
    t = client.transaction()
    t.create(f"{base}/a")
    t.set_data(base, b"changed")
    t.delete(f"{base}/missing")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, RolledBackError, NoNodeError]
    assert client.exists(f"{base}/a") is None
    assert client.get(base)[0] == b""


def test_first_op_failing_makes_every_later_op_a_runtime_inconsistency(client, base):
    client.create(f"{base}/dup")
    t = client.transaction()
    t.create(f"{base}/dup")
    t.create(f"{base}/other")
    results = t.commit()
    assert [type(r) for r in results] == [NodeExistsError, RuntimeInconsistency]
    assert client.exists(f"{base}/other") is None


def test_ops_in_a_multi_see_the_earlier_ops(client, base):
    t = client.transaction()
    t.create(f"{base}/p")
    t.create(f"{base}/p/c", b"1")
    t.set_data(f"{base}/p/c", b"2", version=0)
    t.delete(f"{base}/p/c", version=1)
    results = t.commit()
    assert results[0] == f"{base}/p" and results[1] == f"{base}/p/c"
    assert results[2].version == 1 and results[3] is True
    assert client.get_children(f"{base}/p") == []


def test_empty_transaction_commits_to_no_results(client, base):
    assert client.transaction().commit() == []


def test_committed_multi_fires_watches(make_client, base):
    a = make_client()
    b = make_client()
    b.create(f"{base}/n")
    q = queue.Queue()
    a.get(f"{base}/n", watch=q.put)
    a.get_children(base, watch=q.put)
    t = b.transaction()
    t.set_data(f"{base}/n", b"x")
    t.create(f"{base}/m")
    t.commit()
    events = {(q.get(timeout=10).type) for _ in range(2)}
    assert events == {EventType.CHANGED, EventType.CHILD}


def test_failed_multi_fires_no_watches(make_client, base):
    a = make_client()
    b = make_client()
    b.create(f"{base}/n")
    q = queue.Queue()
    a.get(f"{base}/n", watch=q.put)
    t = b.transaction()
    t.set_data(f"{base}/n", b"x")
    t.check(f"{base}/n", 99)
    assert [type(r) for r in t.commit()] == [RolledBackError, BadVersionError]
    b.set(f"{base}/n", b"later")
    ev = q.get(timeout=10)
    assert ev.type == EventType.CHANGED
    assert a.get(f"{base}/n")[1].version == 1
