"""Size limits (jute.maxbuffer, 1 MiB by default) and path validation.

kazoo normalizes paths before sending ("/a//b" becomes "/a/b") and refuses
"." and ".." itself with ValueError; RawCreate sends the path as given, so
the server's own answers are checked too. ZooKeeper resolves the parent of
a create before it validates the whole path, which is why a create under
"/x/.." is NoNodeError rather than BadArgumentsError."""

import pytest
from kazoo.exceptions import BadArgumentsError, ConnectionLoss, NoNodeError
from kazoo.protocol.serialization import SetData
from kazoo.security import OPEN_ACL_UNSAFE

from conftest import IS_ZOOKEEPER, RawCreate, raw_call, wait_until

KIB = 1024
MIB = 1024 * KIB


def test_half_mebibyte_value_round_trips(client, base):
    value = bytes(i % 251 for i in range(512 * KIB))
    client.create(f"{base}/big", value)
    data, stat = client.get(f"{base}/big")
    assert data == value and stat.dataLength == 512 * KIB
    client.set(f"{base}/big", value[::-1])
    assert client.get(f"{base}/big")[0] == value[::-1]


def test_value_just_under_a_mebibyte_is_accepted(client, base):
    client.create(f"{base}/big", b"y" * (MIB - KIB))
    assert client.exists(f"{base}/big").dataLength == MIB - KIB


def test_oversized_request_drops_only_that_connection(make_client, base):
    big = make_client()
    other = make_client()
    session_id = big.client_id[0]
    with pytest.raises(ConnectionLoss):
        big.create(f"{base}/toobig", b"z" * (MIB + KIB))
    # Not applied; kazoo reconnects to the same session.
    wait_until(lambda: big.connected, 15, what="reconnect")
    assert big.client_id[0] == session_id
    assert big.exists(f"{base}/toobig") is None
    assert other.create(f"{base}/fine", b"ok") == f"{base}/fine"
    assert other.get(f"{base}/fine")[0] == b"ok"


def test_kazoo_refuses_relative_components_itself(client, base):
    for path in (f"{base}/a/../b", f"{base}/./b", f"{base}/.."):
        with pytest.raises(ValueError):
            client.create(path)


def test_kazoo_collapses_double_slashes(client, base):
    assert client.create(f"{base}//b") == f"{base}/b"


def test_null_byte_in_path_is_bad_arguments(client, base):
    with pytest.raises(BadArgumentsError):
        client.create(f"{base}/a\u0000b")
    with pytest.raises(BadArgumentsError):
        client.create(f"{base}/\u0000")
    assert client.get_children(base) == []


def test_control_characters_in_path_are_bad_arguments(client, base):
    for ch in ("\u0001", "\u0019", "\u007f"):
        with pytest.raises(BadArgumentsError):
            client.create(f"{base}/a{ch}")
    assert client.get_children(base) == []


@pytest.mark.parametrize("suffix", ["/..", "/.", "/", ""])
def test_server_rejects_invalid_create_paths_with_bad_arguments(client, base, suffix):
    # base + "/.." has the existing parent base; so do "/." and a trailing slash.
    path = f"{base}{suffix}" if suffix else base[1:]  # "" -> a relative path
    with pytest.raises(BadArgumentsError):
        raw_call(client, RawCreate(path, b"", OPEN_ACL_UNSAFE, 0))
    assert client.get_children(base) == []


def test_server_answers_no_node_for_a_create_under_a_dot_dot_parent(client, base):
    client.create(f"{base}/a")
    if not IS_ZOOKEEPER:
        # A documented difference: coord checks a path's syntax before
        # looking for its parent, so '..' and '//' are BADARGUMENTS wherever
        # they appear.
        for bad in (f"{base}/a/../b", f"{base}/a//b"):
            with pytest.raises(BadArgumentsError):
                raw_call(client, RawCreate(bad, b"", OPEN_ACL_UNSAFE, 0))
        assert client.get_children(base) == ["a"]
        return
    with pytest.raises(NoNodeError):
        raw_call(client, RawCreate(f"{base}/a/../b", b"", OPEN_ACL_UNSAFE, 0))
    with pytest.raises(NoNodeError):
        raw_call(client, RawCreate(f"{base}/a//b", b"", OPEN_ACL_UNSAFE, 0))
    assert client.get_children(base) == ["a"]


def test_server_rejects_set_data_on_an_invalid_path(client, base):
    client.create(f"{base}/a")
    for path in (f"{base}/a/..", f"{base}/a/", f"{base}/a\u0000"):
        with pytest.raises(BadArgumentsError):
            raw_call(client, SetData(path, b"x", -1))
    assert client.get(f"{base}/a")[0] == b""
