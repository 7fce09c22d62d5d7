"""Authentication (opcode 100, xid -4) and ACL reads and writes."""

import pytest
from kazoo.exceptions import AuthFailedError, BadVersionError, NoAuthError
from kazoo.protocol.states import KazooState, KeeperState
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_digest_acl,
)

from conftest import wait_until


def test_digest_auth_is_accepted(client, base):
    assert client.add_auth("digest", "alice:secret") is True
    assert client.connected
    client.create(f"{base}/after-auth")
    assert client.exists(f"{base}/after-auth") is not None


def test_unknown_scheme_fails_and_ends_the_session(make_client, base):
    c = make_client()
    states = []
    c.add_listener(states.append)
    with pytest.raises(AuthFailedError):
        c.add_auth("nosuchscheme", "x")
    # kazoo treats AUTH_FAILED as a closed session and, since it resends its
    # auth data on every reconnect, stays closed.
    wait_until(lambda: KazooState.LOST in states, 10, what="LOST")
    wait_until(lambda: c.client_state in (KeeperState.AUTH_FAILED, KeeperState.CLOSED),
               10, what="closed client")
    assert not c.connected


def test_failed_auth_leaves_other_clients_alone(make_client, base):
    bad, good = make_client(), make_client()
    with pytest.raises(AuthFailedError):
        bad.add_auth("nosuchscheme", "x")
    assert good.create(f"{base}/n") == f"{base}/n"


def test_get_acls_of_a_default_node_is_open_acl_unsafe(client, base):
    client.create(f"{base}/n")
    acls, stat = client.get_acls(f"{base}/n")
    assert acls == OPEN_ACL_UNSAFE
    assert acls[0].id == Id("world", "anyone")
    assert acls[0].perms == Permissions.ALL == 31
    assert stat == client.exists(f"{base}/n")
    assert stat.aversion == 0


def test_set_acls_bumps_aversion_and_checks_it(client, base):
    client.create(f"{base}/n")
    stat = client.set_acls(f"{base}/n", OPEN_ACL_UNSAFE)
    assert stat.aversion == 1 and stat.version == 0
    with pytest.raises(BadVersionError):
        client.set_acls(f"{base}/n", OPEN_ACL_UNSAFE, version=0)
    stat = client.set_acls(f"{base}/n", OPEN_ACL_UNSAFE, version=1)
    assert stat.aversion == 2


def test_acl_given_at_create_is_returned(client, base):
    client.create(f"{base}/ro", acl=READ_ACL_UNSAFE)
    acls, _ = client.get_acls(f"{base}/ro")
    assert acls == [ACL(Permissions.READ, Id("world", "anyone"))]


def test_a_digest_acl_admits_its_user_and_refuses_others(make_client, base):
    alice, anon = make_client(), make_client()
    alice.add_auth("digest", "alice:secret")
    acl = [make_digest_acl("alice", "secret", all=True)]
    alice.create(f"{base}/private", b"s", acl=acl)
    assert alice.get(f"{base}/private")[0] == b"s"
    with pytest.raises(NoAuthError):
        anon.get(f"{base}/private")
    with pytest.raises(NoAuthError):
        anon.set(f"{base}/private", b"x")
    with pytest.raises(NoAuthError):
        anon.create(f"{base}/private/child")
    anon.add_auth("digest", "alice:secret")
    assert anon.get(f"{base}/private")[0] == b"s"
    acls, stat = anon.get_acls(f"{base}/private")
    assert acls == acl and stat.aversion == 0
