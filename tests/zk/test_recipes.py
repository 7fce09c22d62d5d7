"""kazoo's own recipes, unmodified, on the server: Lock, Election, Counter,
Barrier and Queue. They rely on sequential ephemerals, child lists, exists
watches and versioned setData."""

import threading
import time

from kazoo.exceptions import LockTimeout

WAIT = 15.0


def test_lock_excludes_a_second_client_until_released(make_client, base):
    a, b = make_client(), make_client()
    la = a.Lock(f"{base}/lock", "a")
    lb = b.Lock(f"{base}/lock", "b")
    assert la.acquire(timeout=WAIT)
    started = time.monotonic()
    try:
        lb.acquire(timeout=1.0)
        raise AssertionError("second client got a held lock")
    except LockTimeout:
        pass
    assert time.monotonic() - started >= 0.9
    assert lb.acquire(blocking=False) is False
    got = threading.Event()

    def take():
        if lb.acquire(timeout=WAIT):
            got.set()

    t = threading.Thread(target=take)
    t.start()
    time.sleep(0.3)
    assert not got.is_set()
    la.release()
    assert got.wait(WAIT)
    t.join(WAIT)
    assert lb.is_acquired
    lb.release()


def test_lock_contenders_and_fifo_hand_off(make_client, base):
    holder = make_client().Lock(f"{base}/lock", "holder")
    assert holder.acquire(timeout=WAIT)
    order = []
    locks = []
    threads = []
    for i in range(3):
        lock = make_client().Lock(f"{base}/lock", f"w{i}")
        locks.append(lock)

        def run(lock=lock, name=f"w{i}"):
            if lock.acquire(timeout=WAIT * 2):
                order.append(name)
                time.sleep(0.05)
                lock.release()

        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        # Each waiter's node exists before the next one starts.
        deadline = time.monotonic() + WAIT
        while len(holder.contenders()) < i + 2:
            assert time.monotonic() < deadline, "waiter never queued"
            time.sleep(0.02)
    assert holder.contenders() == ["holder", "w0", "w1", "w2"]
    holder.release()
    for t in threads:
        t.join(WAIT * 2)
    assert order == ["w0", "w1", "w2"]
    assert holder.contenders() == []


def test_lock_of_a_stopped_client_passes_to_the_next(make_client, base):
    a, b = make_client(), make_client()
    assert a.Lock(f"{base}/lock").acquire(timeout=WAIT)
    lb = b.Lock(f"{base}/lock")
    got = threading.Event()
    t = threading.Thread(target=lambda: lb.acquire(timeout=WAIT) and got.set())
    t.start()
    time.sleep(0.3)
    assert not got.is_set()
    a.stop()  # its ephemeral goes, the waiter's exists watch fires
    assert got.wait(WAIT)
    t.join(WAIT)


def test_election_runs_one_leader_at_a_time(make_client, base):
    a, b = make_client(), make_client()
    ea = a.Election(f"{base}/election", "alpha")
    eb = b.Election(f"{base}/election", "beta")
    leading = []
    a_leads, b_leads, a_done = threading.Event(), threading.Event(), threading.Event()

    def lead_a():
        leading.append("alpha")
        a_leads.set()
        a_done.wait(WAIT)

    def lead_b():
        leading.append("beta")
        b_leads.set()

    ta = threading.Thread(target=ea.run, args=(lead_a,))
    ta.start()
    assert a_leads.wait(WAIT)
    tb = threading.Thread(target=eb.run, args=(lead_b,))
    tb.start()
    deadline = time.monotonic() + WAIT
    while len(ea.contenders()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ea.contenders() == ["alpha", "beta"]
    assert not b_leads.is_set()
    a_done.set()
    assert b_leads.wait(WAIT)
    ta.join(WAIT)
    tb.join(WAIT)
    assert leading == ["alpha", "beta"]


def test_counter_adds_up_across_concurrent_clients(make_client, base):
    path = f"{base}/counter"
    clients = [make_client() for _ in range(3)]
    per_client = 15

    def bump(c):
        counter = c.Counter(path)
        for _ in range(per_client):
            counter += 1

    threads = [threading.Thread(target=bump, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    counter = clients[0].Counter(path)
    assert counter.value == 3 * per_client
    # Every increment was one versioned setData.
    assert clients[0].exists(path).version == 3 * per_client
    counter -= 5
    assert counter.value == 3 * per_client - 5
    assert counter.pre_value == 3 * per_client and counter.post_value == 3 * per_client - 5


def test_barrier_holds_until_removed(make_client, base):
    a, b = make_client(), make_client()
    barrier = a.Barrier(f"{base}/barrier")
    barrier.create()
    assert b.Barrier(f"{base}/barrier").wait(timeout=0.5) is False
    passed = threading.Event()
    t = threading.Thread(target=lambda: b.Barrier(f"{base}/barrier").wait(WAIT) and passed.set())
    t.start()
    time.sleep(0.2)
    barrier.remove()
    assert passed.wait(WAIT)
    t.join(WAIT)


def test_queue_hands_out_items_in_order_once(make_client, base):
    a, b = make_client(), make_client()
    q = a.Queue(f"{base}/queue")
    for item in (b"one", b"two", b"three"):
        q.put(item)
    q.put(b"urgent", priority=10)
    assert len(q) == 4
    qb = b.Queue(f"{base}/queue")
    got = [qb.get() for _ in range(4)]
    assert got == [b"urgent", b"one", b"two", b"three"]
    assert qb.get() is None
