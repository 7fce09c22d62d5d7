import coord

with coord.Client() as c:  # servers from $COORD_SERVERS, else 127.0.0.1:2281
    with c.lock("/demo/lock", timeout=10) as token:
        print("holding /demo/lock with fencing token", token)
    with c.election("/demo/election", identity="worker-1", timeout=10) as term:
        print("elected, term", term, "leader:", c.election("/demo/election").leader())
    if c.exists("/demo/config") is None:
        c.create("/demo/config", b"v1", make_parents=True)
    with c.watch("/demo/config") as events:
        c.set("/demo/config", b"v2")
        event = next(events)
        print("watch:", event.type, event.path)
