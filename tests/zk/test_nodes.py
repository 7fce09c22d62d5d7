"""Node CRUD through kazoo: what create, get, set, delete, children and
exists return, and the errors ZooKeeper raises."""

import re

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)

from conftest import REAPER_BOUND_S, create_container, create_ttl, wait_until


def test_persistent_node_round_trips_data_and_fresh_stat(client, base):
    path = client.create(f"{base}/n", b"hello")
    assert path == f"{base}/n"
    data, stat = client.get(path)
    assert data == b"hello"
    assert stat.version == 0
    assert stat.cversion == 0
    assert stat.aversion == 0
    assert stat.dataLength == 5
    assert stat.numChildren == 0
    assert stat.ephemeralOwner == 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.czxid > 0
    assert stat.ctime == stat.mtime and stat.ctime > 0


def test_create_with_include_data_returns_path_and_stat(client, base):
    # kazoo sends create2 (opcode 15) for include_data=True.
    path, stat = client.create(f"{base}/n", b"abc", include_data=True)
    assert path == f"{base}/n"
    assert stat.version == 0 and stat.dataLength == 3 and stat.numChildren == 0
    assert stat == client.exists(path)


def test_ephemeral_node_is_owned_by_the_session(client, base):
    path = client.create(f"{base}/e", b"x", ephemeral=True)
    stat = client.exists(path)
    assert stat.ephemeralOwner == client.client_id[0]
    assert stat.ephemeralOwner != 0


def test_ephemeral_node_cannot_have_children(client, base):
    client.create(f"{base}/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        client.create(f"{base}/e/child")


def test_sequential_nodes_get_increasing_ten_digit_suffixes(client, base):
    paths = [client.create(f"{base}/s-", sequence=True) for _ in range(3)]
    suffixes = []
    for p in paths:
        m = re.fullmatch(re.escape(base) + r"/s-(\d{10})", p)
        assert m, p
        suffixes.append(int(m.group(1)))
    assert suffixes == [0, 1, 2]
    assert sorted(client.get_children(base)) == [p.rsplit("/", 1)[1] for p in paths]


def test_sequence_counter_counts_every_child_created_under_the_parent(client, base):
    # The suffix is per parent and counts all children created under it,
    # sequential or not; deletes never make a number come back.
    client.create(f"{base}/plain")
    client.create(f"{base}/other")
    assert client.create(f"{base}/s-", sequence=True) == f"{base}/s-0000000002"
    eph = client.create(f"{base}/e-", ephemeral=True, sequence=True)
    assert eph == f"{base}/e-0000000003"
    for name in client.get_children(base):
        client.delete(f"{base}/{name}")
    again = client.create(f"{base}/s-", sequence=True)
    assert int(again[-10:]) > 3
    # A trailing slash names the node by the number alone.
    last = client.create(f"{base}/", sequence=True)
    assert re.fullmatch(re.escape(base) + r"/\d{10}", last)
    assert int(last[-10:]) > int(again[-10:])


def test_makepath_creates_missing_parents(client, base):
    path = client.create(f"{base}/a/b/c", b"leaf", makepath=True)
    assert path == f"{base}/a/b/c"
    assert client.get(path)[0] == b"leaf"
    assert client.get_children(f"{base}/a") == ["b"]
    assert client.exists(f"{base}/a").numChildren == 1


def test_create_without_parent_fails_with_no_node(client, base):
    with pytest.raises(NoNodeError):
        client.create(f"{base}/missing/child")


def test_create_existing_node_fails_with_node_exists(client, base):
    client.create(f"{base}/n", b"first")
    with pytest.raises(NodeExistsError):
        client.create(f"{base}/n", b"second")
    assert client.get(f"{base}/n")[0] == b"first"


def test_set_bumps_version_and_checks_expected_version(client, base):
    path = client.create(f"{base}/n", b"v0")
    stat = client.set(path, b"v1", version=0)
    assert stat.version == 1 and stat.dataLength == 2
    assert stat.mzxid > stat.czxid
    with pytest.raises(BadVersionError):
        client.set(path, b"stale", version=0)
    assert client.get(path)[0] == b"v1"
    stat = client.set(path, b"any", version=-1)
    assert stat.version == 2
    data, stat = client.get(path)
    assert (data, stat.version) == (b"any", 2)


def test_set_and_get_of_missing_node_fail_with_no_node(client, base):
    with pytest.raises(NoNodeError):
        client.get(f"{base}/missing")
    with pytest.raises(NoNodeError):
        client.set(f"{base}/missing", b"x")
    with pytest.raises(NoNodeError):
        client.delete(f"{base}/missing")
    with pytest.raises(NoNodeError):
        client.get_children(f"{base}/missing")


def test_delete_checks_expected_version(client, base):
    path = client.create(f"{base}/n")
    client.set(path, b"x")
    with pytest.raises(BadVersionError):
        client.delete(path, version=0)
    assert client.exists(path) is not None
    client.delete(path, version=1)
    assert client.exists(path) is None


def test_delete_of_node_with_children_fails_with_not_empty(client, base):
    client.create(f"{base}/p/c", makepath=True)
    with pytest.raises(NotEmptyError):
        client.delete(f"{base}/p")
    assert client.get_children(f"{base}/p") == ["c"]


def test_children_and_parent_stat_follow_creates_and_deletes(client, base):
    for name in ("x", "y", "z"):
        client.create(f"{base}/{name}", name.encode())
    client.delete(f"{base}/y")
    assert sorted(client.get_children(base)) == ["x", "z"]
    stat = client.exists(base)
    assert stat.numChildren == 2
    assert stat.cversion == 4
    assert stat.version == 0  # children do not touch the parent's data version
    # pzxid is the zxid of the last child change: the delete, after z's create.
    assert stat.pzxid > client.exists(f"{base}/z").czxid


def test_get_children_with_include_data_returns_the_parents_stat(client, base):
    # kazoo sends getChildren2 (opcode 12): the names plus the parent's stat.
    client.create(f"{base}/a")
    client.create(f"{base}/b", b"data")
    children, stat = client.get_children(base, include_data=True)
    assert sorted(children) == ["a", "b"]
    assert stat.numChildren == 2
    assert stat == client.exists(base)


def test_exists_returns_none_for_missing_node_and_stat_otherwise(client, base):
    assert client.exists(f"{base}/missing") is None
    client.create(f"{base}/here", b"12")
    stat = client.exists(f"{base}/here")
    assert stat is not None and stat.dataLength == 2


def test_root_exists_and_lists_the_tests_node(client, base):
    assert client.exists("/") is not None
    assert base[1:] in client.get_children("/")


def test_empty_data_and_binary_data_round_trip(client, base):
    blob = bytes(range(256))
    client.create(f"{base}/empty")
    client.create(f"{base}/bin", blob)
    assert client.get(f"{base}/empty")[0] == b""
    assert client.get(f"{base}/bin")[0] == blob


def test_container_create_reports_an_ordinary_stat(client, base):
    path, stat = create_container(client, f"{base}/c", b"d")
    assert path == f"{base}/c"
    assert stat.version == 0 and stat.dataLength == 1
    # Clients see ephemeralOwner 0 for containers and TTL nodes.
    assert stat.ephemeralOwner == 0
    client.create(f"{base}/c/child")
    assert client.get_children(f"{base}/c") == ["child"]


def test_ttl_create_reports_an_ordinary_stat_and_rejects_bad_ttls(client, base):
    path, stat = create_ttl(client, f"{base}/t", 60_000, b"x")
    assert path == f"{base}/t"
    assert stat.ephemeralOwner == 0 and stat.dataLength == 1
    path, _ = create_ttl(client, f"{base}/ts-", 60_000, sequential=True)
    assert re.fullmatch(re.escape(base) + r"/ts-\d{10}", path)
    for ttl in (0, -1):
        with pytest.raises(BadArgumentsError):
            create_ttl(client, f"{base}/bad{ttl}", ttl)
    assert client.exists(f"{base}/bad0") is None


@pytest.mark.slow
def test_container_is_removed_after_its_last_child_goes(client, base):
    create_container(client, f"{base}/c")
    create_container(client, f"{base}/never-had-children")
    client.create(f"{base}/c/child")
    client.delete(f"{base}/c/child")
    wait_until(lambda: client.exists(f"{base}/c") is None, REAPER_BOUND_S,
               interval=0.2, what="the emptied container to be removed")
    # A container that never had a child is left alone.
    assert client.exists(f"{base}/never-had-children") is not None


@pytest.mark.slow
def test_ttl_node_is_removed_after_its_ttl_without_children(client, base):
    create_ttl(client, f"{base}/t", 500)
    create_ttl(client, f"{base}/t-parent", 500)
    client.create(f"{base}/t-parent/child")
    wait_until(lambda: client.exists(f"{base}/t") is None, REAPER_BOUND_S,
               interval=0.2, what="the expired TTL node to be removed")
    # One with a child stays while the child is there.
    assert client.exists(f"{base}/t-parent") is not None
